/**
 * The background's half of cloaking a file (issue 4): accepts CLOAK_PORT_NAME ports from content scripts (and the
 * extension's own pages), checks everything they send, runs the job in the offscreen document, and streams progress
 * and the output back on the same port.
 *
 * Trust: a content script runs in a renderer the page may have compromised, so every message is validated, the site
 * (hence the strength and whether the site is on) comes from the browser-set `port.sender`, and the job id is ours.
 * Results travel only on the port that asked, which the browser binds to one tab and frame: a tab cannot read another
 * tab's results, because it can never name another job.
 *
 * Lifetime: a cloak can take minutes. The content script pings on its port and the offscreen document reports every
 * step; both are events that keep this service worker alive (port messages since Chrome 114, which is below our
 * minimum of 116). If the worker is stopped anyway, the ports close (the content script sees that and reports the
 * extension unavailable) and the offscreen document drops the orphaned job at its next progress report, which the
 * restarted worker answers with `wanted: false`. The job holds `OffscreenHost.use()` from its first chunk to its last
 * output chunk, so the idle close never takes the document away under a job.
 */
import {
  CLOAK_CHUNK_BYTES,
  CLOAK_PORT_NAME,
  type CloakClientMessage,
  type CloakFailure,
  type CloakProgress,
  type CloakServiceMessage,
  type CloakRunResult,
  type CloakSummary,
  MessageError,
  base64DecodedLength,
  isCloakClientMessage,
  sendMessage,
  senderAccess,
} from '../shared/messages.ts';
import type { CloakOrigin } from '../shared/recent-cloaks.ts';
import { type Strength, siteKeyForUrl, siteSettingsFor } from '../shared/settings.ts';
import { ClientPort } from './client-port.ts';
import type { OffscreenHost } from './offscreen-host.ts';
import type { PersonalMaskStore } from './personal-mask-store.ts';
import type { SettingsStore } from './settings-store.ts';

/** The first message must arrive this soon after connecting, and the whole file within UPLOAD_TIMEOUT_MS. */
const START_TIMEOUT_MS = 10_000;
const UPLOAD_TIMEOUT_MS = 60_000;
/** At most this many files per tab in flight (a page cannot queue unbounded work), and this many bytes overall. */
const MAX_JOBS_PER_TAB = 32;
const MAX_BYTES_IN_FLIGHT = 512 * 1024 * 1024;

interface Job {
  id: string;
  /** -1 for requests that come from an extension page or the background itself. */
  tabId: number;
  size: number;
  onProgress(progress: CloakProgress): void;
}

export class CloakService {
  private readonly jobs = new Map<string, Job>();
  private bytesInFlight = 0;

  constructor(private readonly deps: { settings: SettingsStore; offscreen: OffscreenHost; masks: PersonalMaskStore }) {}

  /** Registers the port listener; call synchronously at worker start (MV3 delivers events only to those). */
  listen(): void {
    chrome.runtime.onConnect.addListener((port) => {
      if (port.name === CLOAK_PORT_NAME) this.accept(port);
    });
  }

  /** The offscreen document's progress report; false when the job is unknown here (cancelled, or worker restarted). */
  progress(jobId: string, progress: CloakProgress): { wanted: boolean } {
    const job = this.jobs.get(jobId);
    if (!job) return { wanted: false };
    job.onProgress(progress);
    return { wanted: true };
  }

  private accept(port: chrome.runtime.Port): void {
    const sender = port.sender;
    const access = sender ? senderAccess(sender) : null;
    const tabId = sender?.tab?.id;
    // Content scripts must come from a tab; extension pages (tests, future UI) may also use the port.
    if (!sender || access === null || (access === 'content' && typeof tabId !== 'number')) {
      port.disconnect();
      return;
    }

    const client = new ClientPort<CloakServiceMessage>(port, START_TIMEOUT_MS);
    let started = false;
    let expected = 0;
    let received = 0;
    port.onMessage.addListener((message: unknown) => {
      if (!isCloakClientMessage(message)) return client.refuse('Malformed message.');
      if (message.type === 'ping') return;
      if (message.type === 'chunk') {
        if (!started) return client.refuse('A chunk came before the request.');
        received += base64DecodedLength(message.data);
        if (received > expected) return client.refuse('More bytes than announced.');
        client.push(message.data);
        return;
      }
      if (started) return client.refuse('One file per port.');
      started = true;
      client.started();
      expected = message.size;
      void this.startFromPort(message, tabId ?? -1, sender.url, access, client, () => received === expected && client.queued === 0);
    });
  }

  private async startFromPort(
    start: Extract<CloakClientMessage, { type: 'start' }>,
    tabId: number,
    senderUrl: string | undefined,
    access: 'content' | 'extension',
    io: ClientPort<CloakServiceMessage>,
    uploaded: () => boolean,
  ): Promise<void> {
    // The site from the browser-set sender URL, never from the message; the strength from its settings unless the
    // request names one of the allowed values (validated by isCloakClientMessage).
    let strength: Strength = start.strength ?? 'mid';
    // An extension page says where its photo came from ("Protect image" on a site's page, or chosen there).
    let origin: CloakOrigin = {
      source: start.source ?? 'protect-page',
      site: start.source === 'protect-image' ? (start.site ?? null) : null,
      ...(start.name ? { fileName: start.name } : {}),
    };
    if (access === 'content') {
      const site = siteKeyForUrl(senderUrl);
      origin = { source: 'upload', site };
      const settings = await this.deps.settings.get();
      const siteSettings = site ? siteSettingsFor(settings, site) : { ...settings.otherSites, enabled: false };
      if (!siteSettings.enabled) return io.refuse('Face Cloak is off for this site.');
      strength = start.strength ?? siteSettings.strength;
    }
    if ([...this.jobs.values()].filter((job) => job.tabId === tabId).length >= MAX_JOBS_PER_TAB) {
      return io.refuse(`At most ${MAX_JOBS_PER_TAB} photos at a time per tab.`);
    }
    if (this.bytesInFlight + start.size > MAX_BYTES_IN_FLIGHT) {
      return io.refuse('Too many photos are being protected at once; try again in a moment.');
    }

    let outcome: RunOutcome;
    try {
      outcome = await this.runJob({
        tabId,
        size: start.size,
        strength,
        origin,
        signal: io.signal,
        onProgress: (progress) => io.post({ type: 'progress', progress }),
        upload: async (send) => {
          const deadline = setTimeout(() => io.refuse('The photo did not arrive in time.'), UPLOAD_TIMEOUT_MS);
          try {
            while (!uploaded()) await send(await io.next());
          } finally {
            clearTimeout(deadline);
          }
        },
      });
    } catch (error) {
      outcome = { ok: false, failure: engineUnreachable(error) };
    }
    if (!outcome.ok) {
      io.post({ type: 'error', failure: outcome.failure });
      return;
    }
    if (!io.post({ type: 'result', summary: outcome.summary })) return;
    if (outcome.summary.unchanged) return;
    try {
      await outcome.take((data) => {
        if (!io.post({ type: 'chunk', data })) throw new DOMException('The requester left', 'AbortError');
      });
    } catch (error) {
      if (!io.signal.aborted) io.post({ type: 'error', failure: engineUnreachable(error) });
    }
  }

  /**
   * Runs one job in the offscreen document: open, upload, run, and hand back a `take` that reads the output. The
   * document is held (OffscreenHost.use) until `take` is done, and the job is released in the document at the end
   * whatever happened. Cancellation (signal) is forwarded to the document at once. Rejects only when the document
   * could not be reached (closed mid-job, or could not start).
   */
  private async runJob(args: {
    tabId: number;
    size: number;
    strength: Strength;
    origin: CloakOrigin;
    signal?: AbortSignal;
    onProgress(progress: CloakProgress): void;
    upload(send: (data: string) => Promise<void>): Promise<void>;
  }): Promise<RunOutcome> {
    const cancelled: RunOutcome = { ok: false, failure: { code: 'cancelled', message: 'Cloaking was cancelled.' } };
    if (args.signal?.aborted) return cancelled;
    const id = crypto.randomUUID();
    this.jobs.set(id, { id, tabId: args.tabId, size: args.size, onProgress: args.onProgress });
    this.bytesInFlight += args.size;
    const release = () => {
      if (!this.jobs.delete(id)) return;
      this.bytesInFlight -= args.size;
      args.signal?.removeEventListener('abort', release);
      // Cancels the job there if it is still queued or running, and frees its bytes.
      void sendMessage('offscreen:cloakRelease', { job: id }).catch(() => undefined);
    };
    args.signal?.addEventListener('abort', release, { once: true });

    // use() must span the whole job, reading the output included, or the idle close could take the document (and
    // the output) away in between; but the caller needs the run's result before that. Hence two deferreds.
    const result = deferred<CloakRunResult>();
    const taken = deferred<void>();
    const held = this.deps.offscreen.use(async () => {
      // No record at all when the person keeps none: the document then makes no thumbnails and no estimate.
      const keep = (await this.deps.settings.get()).recentCloaksDays > 0;
      // The document decides whether this cloak starts from it (its strength, and whether the engine can use it).
      const personalMask = await this.deps.masks.mask();
      await sendMessage('offscreen:cloakStart', {
        job: id,
        size: args.size,
        strength: args.strength,
        origin: keep ? args.origin : null,
        personalMask,
      });
      let offset = 0;
      await args.upload(async (data) => {
        args.signal?.throwIfAborted();
        await sendMessage('offscreen:cloakChunk', { job: id, offset, data });
        offset += base64DecodedLength(data);
      });
      const run = await sendMessage('offscreen:cloakRun', { job: id });
      result.resolve(run);
      if (run.ok && !run.summary.unchanged) await taken.promise;
    });
    held.catch((error: unknown) => result.reject(error));

    let run: CloakRunResult;
    try {
      run = await result.promise;
    } catch (error) {
      release();
      if (args.signal?.aborted) return cancelled;
      throw error;
    }
    if (!run.ok) {
      release();
      return args.signal?.aborted ? cancelled : run;
    }
    if (run.summary.unchanged) {
      release();
      return { ok: true, summary: run.summary, take: async () => undefined };
    }
    const { summary } = run;
    const finish = async () => {
      taken.resolve();
      release();
      await held.catch(() => undefined);
    };
    return {
      ok: true,
      summary,
      take: async (sink) => {
        try {
          for (let offset = 0; offset < summary.size; offset += CLOAK_CHUNK_BYTES) {
            args.signal?.throwIfAborted();
            const { data } = await sendMessage('offscreen:cloakTake', { job: id, offset, length: CLOAK_CHUNK_BYTES });
            sink(data);
          }
        } finally {
          await finish();
        }
      },
    };
  }
}

export type RunOutcome =
  | {
      ok: true;
      summary: CloakSummary;
      /** Reads the output in base64 chunks, then ends the job. Nothing to read when `summary.unchanged`. */
      take(sink: (data: string) => void): Promise<void>;
    }
  | { ok: false; failure: CloakFailure };

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function engineUnreachable(error: unknown): CloakFailure {
  if (error instanceof MessageError && error.code === 'no-receiver') {
    // The offscreen document went away mid-job (closed, crashed, or the extension was reloaded).
    return { code: 'engine-failed', message: 'The cloak engine stopped before it finished this photo.' };
  }
  if (error instanceof DOMException && error.name === 'AbortError') {
    return { code: 'cancelled', message: 'Cloaking was cancelled.' };
  }
  const detail = error instanceof Error ? error.message : String(error);
  return { code: 'engine-failed', message: `The cloak engine could not be reached: ${detail}` };
}
