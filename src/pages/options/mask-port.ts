/**
 * Learning the personal mask from the options page: the LEARN_MASK_PORT_NAME protocol of src/shared/messages.ts.
 * Sends every photo's bytes in order (a chunk never spans two photos), reports progress, and resolves with the
 * stored mask's info. Closing the port (cancel, or leaving the page) stops the learning; nothing is stored then.
 */
import {
  CLOAK_CHUNK_BYTES,
  LEARN_MASK_PORT_NAME,
  MAX_CLOAK_FILE_BYTES,
  MAX_MASK_PHOTOS,
  type MaskClientMessage,
  type MaskLearnProgress,
  type MaskServiceMessage,
  bytesToBase64,
} from '../../shared/messages.ts';
import type { PersonalMaskInfo } from '../../shared/personal-mask.ts';

export class MaskLearnError extends Error {
  constructor(
    readonly code: 'bad-image' | 'engine-failed' | 'cancelled' | 'refused' | 'unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'MaskLearnError';
  }
}

/** Port messages keep the service worker alive (an open port alone does not). */
const PING_INTERVAL_MS = 10_000;

/** Why these photos cannot be sent at all, or null. */
export function photosProblem(photos: readonly { name: string; size: number }[]): string | null {
  if (photos.length === 0) return 'Choose at least one photo of yourself.';
  if (photos.length > MAX_MASK_PHOTOS) return `Choose at most ${MAX_MASK_PHOTOS} photos (3 to 5 are enough).`;
  const empty = photos.find((photo) => photo.size === 0);
  if (empty) return `${empty.name} is empty.`;
  const huge = photos.find((photo) => photo.size > MAX_CLOAK_FILE_BYTES);
  if (huge) return `${huge.name} is too large (over ${MAX_CLOAK_FILE_BYTES >> 20} MB).`;
  return null;
}

/** Learns and stores the personal mask from `photos`; rejects only with a MaskLearnError. */
export function learnPersonalMask(
  photos: readonly { name: string; bytes: Uint8Array }[],
  options: { signal?: AbortSignal; onProgress?: (progress: MaskLearnProgress) => void } = {},
): Promise<PersonalMaskInfo> {
  const problem = photosProblem(photos.map(({ name, bytes }) => ({ name, size: bytes.length })));
  if (problem) return Promise.reject(new MaskLearnError('bad-image', problem));
  if (options.signal?.aborted) return Promise.reject(new MaskLearnError('cancelled', 'Cancelled.'));

  return new Promise((resolve, reject) => {
    const port = chrome.runtime.connect({ name: LEARN_MASK_PORT_NAME });
    let settled = false;
    const finish = (outcome: PersonalMaskInfo | MaskLearnError) => {
      if (settled) return;
      settled = true;
      clearInterval(pinger);
      options.signal?.removeEventListener('abort', onAbort);
      port.disconnect();
      if (outcome instanceof MaskLearnError) reject(outcome);
      else resolve(outcome);
    };
    const send = (message: MaskClientMessage) => {
      try {
        port.postMessage(message);
      } catch {
        finish(new MaskLearnError('unavailable', 'Face Cloak stopped answering.'));
      }
    };
    const onAbort = () => finish(new MaskLearnError('cancelled', 'Cancelled.'));
    const pinger = setInterval(() => send({ type: 'ping' }), PING_INTERVAL_MS);
    options.signal?.addEventListener('abort', onAbort, { once: true });

    port.onDisconnect.addListener(() => {
      const reason = chrome.runtime.lastError?.message; // Read, so Chromium does not log it as unchecked.
      finish(new MaskLearnError('unavailable', `Face Cloak stopped answering${reason ? ` (${reason})` : ''}.`));
    });
    port.onMessage.addListener((message: MaskServiceMessage) => {
      if (settled) return;
      if (message.type === 'progress') options.onProgress?.(message.progress);
      else if (message.type === 'error') finish(new MaskLearnError(message.failure.code, message.failure.message));
      else finish(message.mask);
    });

    send({ type: 'start', sizes: photos.map(({ bytes }) => bytes.length) });
    for (const { bytes } of photos) {
      for (let offset = 0; offset < bytes.length && !settled; offset += CLOAK_CHUNK_BYTES) {
        send({ type: 'chunk', data: bytesToBase64(bytes.subarray(offset, offset + CLOAK_CHUNK_BYTES)) });
      }
    }
  });
}
