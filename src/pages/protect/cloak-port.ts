/**
 * Cloaking a file from an extension page (the protect page): the CLOAK_PORT_NAME protocol of src/shared/messages.ts,
 * as src/content/cloak-client.ts speaks it for content scripts, minus what only an upload needs (same-name File for
 * the site, extension-invalidated handling). Extension pages choose the strength and name the file; the background
 * records the cloak under `summary.recordId` (null when recent cloaks are not kept), whose protection estimate
 * arrives later in the recent cloaks.
 *
 * Not shared with the content script's client on purpose: that one is shaped by upload interception (and changes
 * with it); the protocol is the contract, and both sides of it are tested end to end.
 */
import {
  CLOAK_CHUNK_BYTES,
  CLOAK_PORT_NAME,
  type CloakClientMessage,
  type CloakProgress,
  type CloakServiceMessage,
  type CloakSummary,
  MAX_CLOAK_FILE_BYTES,
  base64Into,
  bytesToBase64,
} from '../../shared/messages.ts';
import type { Strength } from '../../shared/settings.ts';

export interface CloakRequest {
  bytes: Uint8Array;
  /** The file's MIME type as the browser gave it (the engine sniffs the bytes anyway). */
  mime: string;
  strength: Strength;
  /** Kept in the recent-cloaks record. */
  name: string;
  /** Set when "Protect image" brought the photo from a page of this site (null: a site without a settings key). */
  from?: string | null;
  signal?: AbortSignal;
  onProgress?: (progress: CloakProgress) => void;
}

export interface CloakOutcome {
  summary: CloakSummary;
  /** The cloaked bytes; null when `summary.unchanged` (no face to cloak: the original stands). */
  output: Uint8Array<ArrayBuffer> | null;
}

export class CloakPortError extends Error {
  constructor(
    readonly code: 'bad-image' | 'engine-failed' | 'cancelled' | 'refused' | 'unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'CloakPortError';
  }
}

/** Port messages keep the service worker alive (an open port alone does not); well inside its 30 s idle stop. */
const PING_INTERVAL_MS = 10_000;

/** Cloaks `bytes`; rejects only with a CloakPortError. Several may run at once: the engine queues them. */
export function cloakBytes(request: CloakRequest): Promise<CloakOutcome> {
  const { bytes, signal } = request;
  if (bytes.length === 0) return Promise.reject(new CloakPortError('bad-image', 'This file is empty.'));
  if (bytes.length > MAX_CLOAK_FILE_BYTES) {
    return Promise.reject(
      new CloakPortError('bad-image', `This file is too large to protect (over ${MAX_CLOAK_FILE_BYTES >> 20} MB).`),
    );
  }
  if (signal?.aborted) return Promise.reject(new CloakPortError('cancelled', 'Cancelled.'));

  return new Promise((resolve, reject) => {
    const port = chrome.runtime.connect({ name: CLOAK_PORT_NAME });
    let settled = false;
    let summary: CloakSummary | null = null;
    let output: Uint8Array<ArrayBuffer> | null = null;
    let received = 0;

    const finish = (outcome: CloakOutcome | CloakPortError) => {
      if (settled) return;
      settled = true;
      clearInterval(pinger);
      signal?.removeEventListener('abort', onAbort);
      port.disconnect(); // Cancels the job in the engine if it still runs.
      if (outcome instanceof CloakPortError) reject(outcome);
      else resolve(outcome);
    };
    const send = (message: CloakClientMessage) => {
      try {
        port.postMessage(message);
      } catch {
        finish(new CloakPortError('unavailable', 'Face Cloak stopped answering.'));
      }
    };
    const onAbort = () => finish(new CloakPortError('cancelled', 'Cancelled.'));
    const pinger = setInterval(() => send({ type: 'ping' }), PING_INTERVAL_MS);
    signal?.addEventListener('abort', onAbort, { once: true });

    port.onDisconnect.addListener(() => {
      const reason = chrome.runtime.lastError?.message; // Read, so Chromium does not log it as unchecked.
      finish(new CloakPortError('unavailable', `Face Cloak stopped answering${reason ? ` (${reason})` : ''}.`));
    });
    port.onMessage.addListener((message: CloakServiceMessage) => {
      if (settled) return;
      switch (message.type) {
        case 'progress':
          request.onProgress?.(message.progress);
          return;
        case 'error':
          finish(new CloakPortError(message.failure.code, message.failure.message));
          return;
        case 'result':
          summary = message.summary;
          if (summary.unchanged) finish({ summary, output: null });
          else output = new Uint8Array(summary.size);
          return;
        case 'chunk':
          if (!summary || !output) return finish(new CloakPortError('engine-failed', 'The engine sent data out of order.'));
          try {
            received += base64Into(message.data, output, received);
          } catch {
            return finish(new CloakPortError('engine-failed', 'The engine sent more data than it announced.'));
          }
          if (received === output.length) finish({ summary, output });
          return;
      }
    });

    request.onProgress?.({ phase: 'queued', face: 0, faces: 0, step: 0, steps: 0 });
    send({
      type: 'start',
      size: bytes.length,
      mime: request.mime.slice(0, 200),
      strength: request.strength,
      name: request.name.slice(0, 255),
      ...(request.from === undefined ? {} : { source: 'protect-image' as const, ...(request.from ? { site: request.from } : {}) }),
    });
    for (let offset = 0; offset < bytes.length && !settled; offset += CLOAK_CHUNK_BYTES) {
      send({ type: 'chunk', data: bytesToBase64(bytes.subarray(offset, offset + CLOAK_CHUNK_BYTES)) });
    }
  });
}
