/**
 * Cloak jobs inside the offscreen document: receive a file in chunks, decode it, cloak it with the one warm engine,
 * encode it in its own format, and hand the output back in chunks. Driven by the background through the
 * 'offscreen:cloak*' messages (src/shared/messages.ts); the background owns the requester, this side owns the bytes.
 *
 * One cloak runs at a time (tfjs runs its kernels on one thread or one GPU queue; two interleaved cloaks would both
 * take twice as long), the others wait in a FIFO with phase 'queued'. Learning a personal mask ('offscreen:learnMask')
 * takes its photos from jobs uploaded the same way and waits in the same FIFO. A job given the person's personal mask
 * starts its faces from it. The engine (detector + ensemble, a few hundred MB) is created at the first job and reused
 * until the document closes.
 */
import * as tf from '@tensorflow/tfjs';
import { strengthSettings } from '../engine/cloak/cloak.ts';
import { type CloakEngine, MaskPhotoError, createCloakEngine } from '../engine/cloak/engine.ts';
import { productEnsemble } from '../engine/cloak/ensemble.ts';
import { type PersonalMask, personalMaskProblem } from '../engine/cloak/personal-mask-format.ts';
import { decodeImageBrowser } from '../engine/image/decode-browser.ts';
import {
  encodeImageBrowser,
  jpegRoundTripBrowser,
  mimeOf,
  outputFormatFor,
  thumbnailDataUrl,
} from '../engine/image/encode-browser.ts';
import { ImageError, type RgbImage } from '../engine/image/types.ts';
import { readModelFileBrowser } from '../engine/models/read-browser.ts';
import {
  type CloakChunkPayload,
  type CloakFailure,
  type CloakProgress,
  type CloakRunResult,
  type CloakStartPayload,
  type CloakSummary,
  type CloakTakePayload,
  type MaskLearnPayload,
  type MaskLearnProgress,
  type MaskLearnResult,
  CLOAK_CHUNK_BYTES,
  MAX_CLOAK_FILE_BYTES,
  base64DecodedLength,
  base64Into,
  bytesToBase64,
} from '../shared/messages.ts';
import { type CloakOrigin, type RecentCloak, type RecentCloakEstimate, THUMBNAIL_SIZE } from '../shared/recent-cloaks.ts';
import type { Strength } from '../shared/settings.ts';

/** A finished job's output waits this long for the background to take it, then is dropped (requester gone). */
const OUTPUT_TTL_MS = 120_000;
/** An opened job whose file never completes is dropped after this long (the background died mid-upload). */
const UPLOAD_TTL_MS = 120_000;
/**
 * At most this many photos wait for their protection estimate (each holds the original and the cloaked pixels);
 * beyond it the oldest waiting one is skipped, and its record says so.
 */
const MAX_PENDING_ESTIMATES = 3;

interface Job {
  id: string;
  strength: Strength;
  /** Where the photo goes, for its recent-cloaks record; null: no record. */
  origin: CloakOrigin | null;
  personalMask: PersonalMask | null;
  input: Uint8Array;
  received: number;
  state: 'uploading' | 'queued' | 'running' | 'done';
  abort: AbortController;
  output: Uint8Array | null;
  /** MIME type of `output`. */
  mime: string;
  expiry: ReturnType<typeof setTimeout> | undefined;
}

/** Where progress goes; returns false when nobody wants the job any more (it is then cancelled). */
export type ProgressSink<P> = (job: string, progress: P) => Promise<boolean>;
export interface ProgressSinks {
  cloak: ProgressSink<CloakProgress>;
  mask: ProgressSink<MaskLearnProgress>;
}

/** Where recent-cloak records and their estimates go (the background stores them). */
export interface RecordSink {
  cloak(record: RecentCloak): Promise<void>;
  estimate(id: string, estimate: RecentCloakEstimate): Promise<void>;
}

interface PendingEstimate {
  id: string;
  original: RgbImage;
  /** The cloaked photo as the site receives it: the output file decoded again. */
  output: Uint8Array;
}

export class CloakJobs {
  private readonly jobs = new Map<string, Job>();
  /** Personal masks being learned or waiting to, by job id. */
  private readonly learning = new Map<string, AbortController>();
  private engine: Promise<CloakEngine> | null = null;
  /** The FIFO: each job's run chains onto the previous one. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Jobs queued or running (estimates wait for none to be left, see estimateWhenIdle). */
  private waiting = 0;
  private readonly estimates: PendingEstimate[] = [];
  private estimating = false;
  /** Records being made (thumbnails), whose estimate is not queued yet. */
  private recording = 0;

  constructor(
    /** Resolves once tfjs runs on its backend. */
    private readonly backendReady: Promise<unknown>,
    private readonly reportProgress: ProgressSinks,
    private readonly records?: RecordSink,
  ) {}

  get engineLoaded(): boolean {
    return this.engine !== null;
  }

  start({ job: id, size, strength, origin, personalMask }: CloakStartPayload): void {
    if (this.jobs.has(id)) throw new Error(`job ${id} exists already`);
    if (!(Number.isSafeInteger(size) && size > 0 && size <= MAX_CLOAK_FILE_BYTES)) throw new Error(`bad size ${size}`);
    const job: Job = {
      id,
      strength,
      origin,
      personalMask,
      input: new Uint8Array(size),
      received: 0,
      state: 'uploading',
      abort: new AbortController(),
      output: null,
      mime: '',
      expiry: undefined,
    };
    this.jobs.set(id, job);
    this.expireAfter(job, UPLOAD_TTL_MS);
    // Load the models while the file is still arriving: the first job otherwise waits for both in turn.
    void this.loadEngine().catch(() => undefined);
  }

  chunk({ job: id, offset, data }: CloakChunkPayload): void {
    const job = this.get(id);
    if (job.state !== 'uploading') throw new Error(`job ${id} is not receiving`);
    // The background sends chunks in order; anything else is a bug there, not something to paper over.
    if (offset !== job.received) throw new Error(`job ${id}: chunk at ${offset}, expected ${job.received}`);
    if (base64DecodedLength(data) > job.input.length - offset) throw new Error(`job ${id}: chunk runs past the file`);
    job.received += base64Into(data, job.input, offset);
  }

  /** Queues the job and resolves with its outcome once it ran; never rejects (failures are results). */
  async run(id: string): Promise<CloakRunResult> {
    const job = this.jobs.get(id);
    if (!job) return failed({ code: 'engine-failed', message: 'The engine lost this photo (it was restarted).' });
    if (job.state !== 'uploading' || job.received !== job.input.length) {
      return failed({ code: 'engine-failed', message: `Only ${job.received} of ${job.input.length} bytes arrived.` });
    }
    clearTimeout(job.expiry);
    job.state = 'queued';
    const queuedAt = performance.now();
    void this.progress(job, { phase: 'queued', face: 0, faces: 0, step: 0, steps: 0 });
    this.waiting += 1;
    const run = this.tail.then(() => this.process(job, queuedAt)).finally(() => {
      this.waiting -= 1;
      this.estimateWhenIdle();
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Queues learning a personal mask from the photos of uploaded jobs (which it then frees) and resolves with the mask
   * once learned; never rejects (failures are results). Cancelled by release(id).
   */
  async learnMask({ job: id, photos }: MaskLearnPayload): Promise<MaskLearnResult> {
    const inputs = photos.map((photo) => this.jobs.get(photo));
    const missing = inputs.findIndex((job) => !job || job.state !== 'uploading' || job.received !== job.input.length);
    if (this.learning.has(id) || missing >= 0) {
      for (const photo of photos) this.release(photo);
      const message = missing >= 0 ? `Photo ${missing + 1} did not arrive completely.` : `Job ${id} exists already.`;
      return { ok: false, failure: { code: 'engine-failed', message } };
    }
    for (const job of inputs as Job[]) {
      clearTimeout(job.expiry);
      job.state = 'queued';
    }
    const abort = new AbortController();
    this.learning.set(id, abort);
    void this.maskProgress(id, { phase: 'queued', step: 0, steps: 0 });
    this.waiting += 1;
    const run = this.tail.then(() => this.learn(id, inputs as Job[], abort.signal)).finally(() => {
      this.learning.delete(id);
      for (const photo of photos) this.release(photo);
      this.waiting -= 1;
      this.estimateWhenIdle();
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  take({ job: id, offset, length }: CloakTakePayload): { data: string } {
    const job = this.get(id);
    if (!job.output) throw new Error(`job ${id} has no output`);
    if (!(Number.isSafeInteger(offset) && offset >= 0 && offset < job.output.length)) throw new Error(`bad offset ${offset}`);
    const end = Math.min(job.output.length, offset + Math.min(length, CLOAK_CHUNK_BYTES));
    this.expireAfter(job, OUTPUT_TTL_MS); // Still being read: keep it.
    return { data: bytesToBase64(job.output.subarray(offset, end)) };
  }

  /** Cancels a queued or running job (a cloak or a mask being learned) and frees its bytes. */
  release(id: string): void {
    this.learning.get(id)?.abort(new DOMException('Learning was cancelled', 'AbortError'));
    const job = this.jobs.get(id);
    if (!job) return;
    job.abort.abort(new DOMException('Cloaking was cancelled', 'AbortError'));
    clearTimeout(job.expiry);
    this.jobs.delete(id);
    this.estimateWhenIdle();
  }

  /** Protection estimates waiting or running. */
  get estimatesPending(): number {
    return this.recording + this.estimates.length + (this.estimating ? 1 : 0);
  }

  /** Models loaded now (manifest ids); empty before the first job. */
  async loadedModels(): Promise<string[]> {
    if (!this.engine) return [];
    try {
      return (await this.engine).loadedModels();
    } catch {
      return [];
    }
  }

  /** Live tensors, for the status message: must come back to the same number after every job. */
  tensors(): number {
    return tf.memory().numTensors;
  }

  private async process(job: Job, queuedAt: number): Promise<CloakRunResult> {
    const signal = job.abort.signal;
    const started = performance.now();
    try {
      signal.throwIfAborted();
      const engine = await this.loadEngine();
      signal.throwIfAborted();
      job.state = 'running';
      void this.progress(job, { phase: 'detecting', face: 0, faces: 0, step: 0, steps: 0 });

      const decodeStarted = performance.now();
      const image = await decodeImageBrowser(job.input);
      const decodeMs = performance.now() - decodeStarted;
      signal.throwIfAborted();

      const personalMask = this.usableMask(job, engine);
      const outcome = await engine.cloak(image, {
        strength: job.strength,
        ...(personalMask ? { personalMask } : {}),
        // Seeded by the file's content: uploading the same photo twice gives the same cloak, so nobody collects
        // several independently cloaked copies of one photo to average the cloak away.
        seed: await contentSeed(job.input),
        signal,
        onProgress: ({ face, faces, step, steps }) =>
          void this.progress(job, { phase: 'cloaking', face: face + 1, faces, step, steps }),
      });
      const base = {
        inputFormat: image.format,
        width: image.width,
        height: image.height,
        strength: job.strength,
        skippedSmallFaces: outcome.skippedSmallFaces.length,
        faces: outcome.faces.map(({ box, region, ensembleSimilarity, fromStart }) => ({
          box: { x: box.x, y: box.y, width: box.width, height: box.height },
          region,
          ensembleSimilarity,
          fromPersonalMask: fromStart,
        })),
      };
      const timings = {
        queuedMs: started - queuedAt,
        decodeMs,
        detectMs: outcome.timings.detectMs,
        cloakMs: outcome.timings.cloakMs,
        encodeMs: 0,
        totalMs: 0,
      };
      job.input = new Uint8Array(0); // The pixels are decoded; the file's bytes are not needed again.

      if (outcome.faces.length === 0) {
        // Nothing to cloak: the requester keeps its original file, bytes and all; nothing to send back.
        timings.totalMs = performance.now() - started;
        this.release(job.id);
        const summary: CloakSummary = { ...base, unchanged: true, mime: '', size: 0, recordId: null, timings };
        return { ok: true, summary };
      }

      signal.throwIfAborted();
      void this.progress(job, { phase: 'encoding', face: 0, faces: outcome.faces.length, step: 0, steps: 0 });
      const format = outputFormatFor(image.format);
      const encodeStarted = performance.now();
      const output = await encodeImageBrowser({ ...outcome.image, alpha: image.alpha }, format);
      timings.encodeMs = performance.now() - encodeStarted;
      timings.totalMs = performance.now() - started;
      signal.throwIfAborted();

      job.output = output;
      job.mime = mimeOf(format);
      job.state = 'done';
      this.expireAfter(job, OUTPUT_TTL_MS);
      const recordId = job.origin && this.records ? job.id : null;
      const summary: CloakSummary = { ...base, unchanged: false, mime: mimeOf(format), size: output.length, recordId, timings };
      if (recordId !== null && job.origin) {
        // After the reply is on its way: the record (thumbnails) and the estimate never delay the upload.
        const faceSsims = outcome.faces.map((face) => face.faceSsim);
        const record = {
          ...job.origin,
          id: job.id,
          strength: job.strength,
          width: image.width,
          height: image.height,
          faces: outcome.faces.length,
          skippedSmallFaces: outcome.skippedSmallFaces.length,
          totalMs: timings.totalMs,
          minFaceSsim: faceSsims.length > 0 ? Math.min(...faceSsims) : null,
        };
        const original: RgbImage = { width: image.width, height: image.height, data: image.data };
        this.recording += 1;
        setTimeout(() => void this.record(record, original, outcome.image, output).finally(() => (this.recording -= 1)), 0);
      }
      return { ok: true, summary };
    } catch (error) {
      const failure = describeFailure(error, signal); // Before release(), which aborts the signal.
      this.release(job.id);
      return failed(failure);
    }
  }

  /**
   * The job's personal mask when its strength has a shorter refinement from a mask (`maskSteps`: mid, the strength
   * masks were measured at) and this engine can use it; else null (the cloak starts from noise as without a mask: a
   * stale mask never costs an upload).
   */
  private usableMask(job: Job, engine: CloakEngine): PersonalMask | null {
    if (!job.personalMask || strengthSettings[job.strength].maskSteps === undefined) return null;
    const problem = personalMaskProblem(job.personalMask, engine.ensemble);
    if (problem !== null) {
      console.warn(`[face-cloak] cloaking without the personal mask: ${problem}`);
      return null;
    }
    return job.personalMask;
  }

  private async learn(id: string, inputs: Job[], signal: AbortSignal): Promise<MaskLearnResult> {
    try {
      signal.throwIfAborted();
      const engine = await this.loadEngine();
      signal.throwIfAborted();
      void this.maskProgress(id, { phase: 'detecting', step: 0, steps: 0 });
      const images = [];
      for (const [index, job] of inputs.entries()) {
        try {
          images.push(await decodeImageBrowser(job.input));
        } catch (error) {
          if (!(error instanceof ImageError)) throw error;
          return { ok: false, failure: { code: 'bad-image', message: `Photo ${index + 1}: ${error.message}`, imageCode: error.code } };
        }
        job.input = new Uint8Array(0);
        signal.throwIfAborted();
      }
      const mask = await engine.learnPersonalMask(images, {
        strength: 'mid',
        signal,
        onProgress: ({ step, steps }) => void this.maskProgress(id, { phase: 'learning', step, steps }),
      });
      return { ok: true, mask };
    } catch (error) {
      if (error instanceof MaskPhotoError && !signal.aborted) return { ok: false, failure: { code: 'bad-image', message: error.message } };
      return { ok: false, failure: describeFailure(error, signal) };
    }
  }

  /** Makes the thumbnails, stores the record (estimate pending) and queues the estimate. */
  private async record(
    fields: Omit<RecentCloak, 'before' | 'after' | 'at' | 'estimate'>,
    original: RgbImage,
    cloaked: RgbImage,
    output: Uint8Array,
  ): Promise<void> {
    const records = this.records;
    if (!records) return;
    try {
      const [before, after] = [await thumbnailDataUrl(original, THUMBNAIL_SIZE), await thumbnailDataUrl(cloaked, THUMBNAIL_SIZE)];
      await records.cloak({ ...fields, at: Date.now(), before, after, estimate: { state: 'pending' } });
    } catch (error) {
      console.warn('[face-cloak] could not record a recent cloak:', error);
      return;
    }
    this.estimates.push({ id: fields.id, original, output });
    while (this.estimates.length > MAX_PENDING_ESTIMATES) {
      const skipped = this.estimates.shift()!;
      void records
        .estimate(skipped.id, { state: 'skipped', reason: 'Too many photos at once: only the latest ones were measured.' })
        .catch(() => undefined);
    }
    this.estimateWhenIdle();
  }

  /**
   * Runs the waiting estimates one by one while no cloak job waits; a job that arrives meanwhile runs after the
   * current estimate (one estimate is a few seconds: held-out recognizers x a few defenses).
   */
  private estimateWhenIdle(): void {
    const records = this.records;
    // Only while no job is alive at all: an output still being read back (take) would wait behind the estimate's
    // tfjs work on this one thread, delaying the upload it belongs to.
    if (!records || this.estimating || this.waiting > 0 || this.jobs.size > 0 || this.estimates.length === 0) return;
    const next = this.estimates.pop()!; // Newest first: that is the photo the person is looking at.
    this.estimating = true;
    const run = this.tail.then(async () => {
      let estimate: RecentCloakEstimate;
      try {
        const engine = await this.loadEngine();
        const decoded = await decodeImageBrowser(next.output);
        const cloaked: RgbImage = { width: decoded.width, height: decoded.height, data: decoded.data };
        estimate = { state: 'done', value: await engine.estimateProtection(next.original, cloaked) };
      } catch (error) {
        console.warn('[face-cloak] protection estimate failed:', error);
        estimate = { state: 'failed', message: error instanceof Error ? error.message : String(error) };
      }
      await records.estimate(next.id, estimate).catch(() => undefined);
    });
    this.tail = run.catch(() => undefined).finally(() => {
      this.estimating = false;
      this.estimateWhenIdle();
    });
  }

  private loadEngine(): Promise<CloakEngine> {
    if (!this.engine) {
      const loading = this.backendReady.then(() =>
        createCloakEngine(readModelFileBrowser, { ensemble: productEnsemble, jpeg: jpegRoundTripBrowser }),
      );
      this.engine = loading;
      // A failed load is not cached: the next job tries again (e.g. after a transient out-of-memory).
      loading.catch(() => {
        if (this.engine === loading) this.engine = null;
      });
    }
    return this.engine;
  }

  private async maskProgress(id: string, progress: MaskLearnProgress): Promise<void> {
    let wanted = true;
    try {
      wanted = await this.reportProgress.mask(id, progress);
    } catch {
      // As for cloaks: the background may come back.
    }
    if (!wanted) this.release(id);
  }

  private async progress(job: Job, progress: CloakProgress): Promise<void> {
    let wanted = true;
    try {
      wanted = await this.reportProgress.cloak(job.id, progress);
    } catch {
      // The background is not reachable right now; it will either come back or the job expires.
    }
    if (!wanted) this.release(job.id);
  }

  private get(id: string): Job {
    const job = this.jobs.get(id);
    if (!job) throw new Error(`no job ${id}`);
    return job;
  }

  private expireAfter(job: Job, ms: number): void {
    clearTimeout(job.expiry);
    job.expiry = setTimeout(() => {
      console.warn(`[face-cloak] dropping cloak job ${job.id}: nobody came for it`);
      this.release(job.id);
    }, ms);
  }
}

function failed(failure: CloakFailure): CloakRunResult {
  return { ok: false, failure };
}

function describeFailure(error: unknown, signal: AbortSignal): CloakFailure {
  if (signal.aborted) return { code: 'cancelled', message: 'Cloaking was cancelled.' };
  if (error instanceof ImageError) return { code: 'bad-image', message: error.message, imageCode: error.code };
  console.error('[face-cloak] cloaking failed:', error);
  const detail = error instanceof Error ? error.message : String(error);
  return { code: 'engine-failed', message: `The cloak engine failed: ${detail}` };
}

/** A 32-bit seed from the file's SHA-256. */
async function contentSeed(bytes: Uint8Array): Promise<number> {
  const part: Uint8Array<ArrayBuffer> =
    bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
  const digest = new DataView(await crypto.subtle.digest('SHA-256', part));
  return digest.getUint32(0);
}
