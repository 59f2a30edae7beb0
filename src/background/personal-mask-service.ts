/**
 * Learning the person's personal mask for the options page: accepts LEARN_MASK_PORT_NAME ports from the extension's
 * own pages (never content scripts: a site must not be able to replace someone's mask), uploads the photos into the
 * offscreen document as cloak jobs that never run, has it learn from them ('offscreen:learnMask'), stores the mask
 * and answers with what the page shows. Closing the port cancels; nothing is stored unless learning finished.
 *
 * The photos live only in memory for the minute or two this takes; only the pattern is stored.
 */
import {
  LEARN_MASK_PORT_NAME,
  type MaskLearnProgress,
  type MaskLearnResult,
  type MaskServiceMessage,
  MessageError,
  base64DecodedLength,
  isMaskClientMessage,
  sendMessage,
  senderAccess,
} from '../shared/messages.ts';
import { ClientPort } from './client-port.ts';
import type { OffscreenHost } from './offscreen-host.ts';
import type { PersonalMaskStore } from './personal-mask-store.ts';

const START_TIMEOUT_MS = 10_000;
/** All photos must arrive within this (up to 8 photos of up to 48 MB from the person's own disk). */
const UPLOAD_TIMEOUT_MS = 120_000;

export class PersonalMaskService {
  /** Learning jobs by id: where their progress goes. */
  private readonly jobs = new Map<string, (progress: MaskLearnProgress) => void>();

  constructor(private readonly deps: { offscreen: OffscreenHost; masks: PersonalMaskStore }) {}

  /** Registers the port listener; call synchronously at worker start. */
  listen(): void {
    chrome.runtime.onConnect.addListener((port) => {
      if (port.name === LEARN_MASK_PORT_NAME) this.accept(port);
    });
  }

  /** The offscreen document's progress report; false when the job is unknown here (cancelled, or worker restarted). */
  progress(jobId: string, progress: MaskLearnProgress): { wanted: boolean } {
    const onProgress = this.jobs.get(jobId);
    onProgress?.(progress);
    return { wanted: onProgress !== undefined };
  }

  private accept(port: chrome.runtime.Port): void {
    if (!port.sender || senderAccess(port.sender) !== 'extension') {
      port.disconnect();
      return;
    }
    const client = new ClientPort<MaskServiceMessage>(port, START_TIMEOUT_MS);
    let sizes: number[] | null = null;
    /** Bytes received per photo; a chunk belongs to the first photo not yet complete. */
    let photo = 0;
    let received = 0;
    port.onMessage.addListener((message: unknown) => {
      if (!isMaskClientMessage(message)) return client.refuse('Malformed message.');
      if (message.type === 'ping') return;
      if (message.type === 'start') {
        if (sizes) return client.refuse('One personal mask per port.');
        sizes = message.sizes;
        client.started();
        void this.learn(sizes, client);
        return;
      }
      if (!sizes) return client.refuse('A chunk came before the request.');
      if (photo >= sizes.length) return client.refuse('More photos than announced.');
      received += base64DecodedLength(message.data);
      if (received > sizes[photo]!) return client.refuse('A chunk runs past the end of its photo.');
      if (received === sizes[photo]) [photo, received] = [photo + 1, 0];
      client.push(message.data);
    });
  }

  private async learn(sizes: number[], client: ClientPort<MaskServiceMessage>): Promise<void> {
    const id = crypto.randomUUID();
    const photos = sizes.map(() => crypto.randomUUID());
    const release = () => {
      if (!this.jobs.delete(id)) return;
      client.signal.removeEventListener('abort', release);
      for (const job of [id, ...photos]) void sendMessage('offscreen:cloakRelease', { job }).catch(() => undefined);
    };
    this.jobs.set(id, (progress) => client.post({ type: 'progress', progress }));
    client.signal.addEventListener('abort', release, { once: true });

    let result: MaskLearnResult;
    try {
      result = await this.deps.offscreen.use(async () => {
        client.post({ type: 'progress', progress: { phase: 'uploading', step: 0, steps: 0 } });
        const deadline = setTimeout(() => client.refuse('The photos did not arrive in time.'), UPLOAD_TIMEOUT_MS);
        try {
          for (const [index, size] of sizes.entries()) {
            const job = photos[index]!;
            await sendMessage('offscreen:cloakStart', { job, size, strength: 'mid', origin: null, personalMask: null });
            for (let offset = 0; offset < size; ) {
              const data = await client.next();
              client.signal.throwIfAborted();
              await sendMessage('offscreen:cloakChunk', { job, offset, data });
              offset += base64DecodedLength(data);
            }
          }
        } finally {
          clearTimeout(deadline);
        }
        return sendMessage('offscreen:learnMask', { job: id, photos });
      });
    } catch (error) {
      result = { ok: false, failure: unreachable(error, client.signal) };
    }
    // Photos uploaded before a failure would otherwise wait in the document until they expire.
    if (!result.ok) release();
    this.jobs.delete(id);
    client.signal.removeEventListener('abort', release);
    if (!result.ok) {
      client.post({ type: 'error', failure: result.failure });
      return;
    }
    if (client.signal.aborted) return; // Cancelled as it finished: the person no longer wants it.
    try {
      client.post({ type: 'result', mask: await this.deps.masks.set(result.mask) });
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      client.post({ type: 'error', failure: { code: 'engine-failed', message: `The mask could not be stored: ${detail}` } });
    }
  }
}

function unreachable(error: unknown, signal: AbortSignal): Extract<MaskLearnResult, { ok: false }>['failure'] {
  if (signal.aborted) return { code: 'cancelled', message: 'Learning was cancelled.' };
  if (error instanceof MessageError && error.code === 'no-receiver') {
    return { code: 'engine-failed', message: 'The cloak engine stopped before it finished learning.' };
  }
  return { code: 'engine-failed', message: `The cloak engine could not be reached: ${error instanceof Error ? error.message : String(error)}` };
}
