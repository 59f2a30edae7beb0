/**
 * The isolated-world API for cloaking one file: `cloakFile(file)` sends the file to the extension and resolves with
 * the cloaked file. The upload interception (the rest of src/content/) calls this; it never talks to the background
 * about cloaking itself.
 *
 * Transport: one runtime Port per file (CLOAK_PORT_NAME in src/shared/messages.ts). The browser binds the port to
 * this tab and frame, so the background derives the site from it and only this port ever sees the result. The file
 * goes out as base64 chunks; progress, then the output, come back the same way. Closing the port cancels the job.
 * While waiting, the port is pinged: a port message keeps the background service worker alive, an open port alone
 * does not, and a cloak can take minutes.
 */
import {
  CLOAK_CHUNK_BYTES,
  CLOAK_PORT_NAME,
  type CloakClientMessage,
  type CloakFailure,
  type CloakServiceMessage,
  type CloakSummary,
  MAX_CLOAK_FILE_BYTES,
  base64Into,
  bytesToBase64,
} from '../shared/messages.ts';

export interface CloakFileProgress {
  /** 1-based face being cloaked ("face 1 of 2"); 0 before detection has counted the faces. */
  face: number;
  /** Faces to cloak in this photo (small faces that are skipped not counted); 0 until detection is done. */
  faces: number;
  /** 1-based optimisation step of the current face; 0 outside the 'cloaking' phase. */
  step: number;
  /** Steps per face at this strength; 0 outside the 'cloaking' phase. */
  steps: number;
  /** queued: waiting for the engine (another photo is being cloaked, or the models are loading). */
  phase: 'queued' | 'detecting' | 'cloaking' | 'encoding';
}

export interface CloakFileResult {
  /**
   * The cloaked file: same name and MIME type, fresh lastModified. GIF, AVIF and BMP come back as PNG (type
   * image/png, name extension .png). When `unchanged`, the original `file` object itself.
   */
  file: File;
  /** True when no face large enough to cloak was found: the bytes are the original's, untouched. */
  unchanged: boolean;
  /** Faces cloaked. */
  faces: number;
  /** Faces found but too small to cloak (left as they are). */
  skippedSmallFaces: number;
  /** Wall time from the call to the cloaked file, in milliseconds. */
  ms: number;
}

export type CloakFileErrorCode = 'bad-image' | 'engine-failed' | 'timeout' | 'cancelled' | 'extension-unavailable';

export class CloakFileError extends Error {
  readonly code: CloakFileErrorCode;
  constructor(code: CloakFileErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CloakFileError';
    this.code = code;
  }
}

export interface CloakFileOptions {
  /** Aborting cancels the job in the engine too; the promise rejects with code 'cancelled'. */
  signal?: AbortSignal;
  onProgress?: (p: CloakFileProgress) => void;
  /** Give up (and cancel the job) after this long; rejects with code 'timeout'. */
  timeoutMs?: number;
}

/** Ten minutes: a group photo at high strength on a slow CPU takes minutes; past this, something is stuck. */
export const DEFAULT_CLOAK_TIMEOUT_MS = 600_000;
/** Well inside the service worker's 30 s idle timeout. */
const PING_INTERVAL_MS = 10_000;

/**
 * Cloaks the faces in `file`. Resolves with the cloaked file (or the original, `unchanged`, when it has no face to
 * cloak); rejects only with a CloakFileError. Several calls may run at once: the engine queues them.
 */
export async function cloakFile(file: File, options: CloakFileOptions = {}): Promise<CloakFileResult> {
  const started = performance.now();
  const { signal, onProgress, timeoutMs = DEFAULT_CLOAK_TIMEOUT_MS } = options;
  if (signal?.aborted) throw new CloakFileError('cancelled', 'Cloaking was cancelled.');
  if (file.size === 0) throw new CloakFileError('bad-image', 'This file is empty.');
  if (file.size > MAX_CLOAK_FILE_BYTES) {
    throw new CloakFileError('bad-image', `This file is too large to protect (over ${MAX_CLOAK_FILE_BYTES >> 20} MB).`);
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await file.arrayBuffer());
  } catch (error) {
    // E.g. the file changed or vanished on disk after it was chosen.
    throw new CloakFileError('bad-image', 'This file could not be read.', { cause: error });
  }
  if (signal?.aborted) throw new CloakFileError('cancelled', 'Cloaking was cancelled.');

  let port: chrome.runtime.Port;
  try {
    // Throws "Extension context invalidated" when the extension was updated or reloaded under this page.
    port = chrome.runtime.connect({ name: CLOAK_PORT_NAME });
  } catch (error) {
    throw new CloakFileError('extension-unavailable', 'Face Cloak is not available on this page right now.', {
      cause: error,
    });
  }

  return new Promise<CloakFileResult>((resolve, reject) => {
    let settled = false;
    let summary: CloakSummary | null = null;
    let output: Uint8Array | null = null;
    let received = 0;

    const finish = (outcome: { result: CloakFileResult } | { error: CloakFileError }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(pinger);
      signal?.removeEventListener('abort', onAbort);
      port.disconnect(); // Tells the background to drop the job if it still runs.
      if ('result' in outcome) resolve(outcome.result);
      else reject(outcome.error);
    };
    const fail = (code: CloakFileErrorCode, message: string) => finish({ error: new CloakFileError(code, message) });
    const send = (message: CloakClientMessage) => {
      try {
        port.postMessage(message);
      } catch {
        fail('extension-unavailable', 'Face Cloak stopped answering.');
      }
    };
    const report = (progress: CloakFileProgress) => {
      try {
        onProgress?.(progress);
      } catch (error) {
        console.error('[face-cloak] onProgress threw:', error);
      }
    };
    const onAbort = () => fail('cancelled', 'Cloaking was cancelled.');
    const timer = setTimeout(
      () => fail('timeout', `Protecting this photo took longer than ${Math.round(timeoutMs / 1000)} s.`),
      timeoutMs,
    );
    const pinger = setInterval(() => send({ type: 'ping' }), PING_INTERVAL_MS);
    signal?.addEventListener('abort', onAbort, { once: true });

    port.onDisconnect.addListener(() => {
      // Reading lastError marks it handled (Chromium logs an unchecked one).
      const reason = chrome.runtime.lastError?.message;
      fail('extension-unavailable', `Face Cloak stopped answering${reason ? ` (${reason})` : ''}.`);
    });

    port.onMessage.addListener((message: CloakServiceMessage) => {
      if (settled) return;
      switch (message.type) {
        case 'progress':
          report(message.progress);
          return;
        case 'error':
          finish({ error: errorFrom(message.failure) });
          return;
        case 'result':
          summary = message.summary;
          if (summary.unchanged) {
            finish({ result: resultOf(file, true, summary, started) });
            return;
          }
          output = new Uint8Array(summary.size);
          return;
        case 'chunk':
          if (!summary || !output) return fail('engine-failed', 'The engine sent data out of order.');
          try {
            received += base64Into(message.data, output, received);
          } catch {
            return fail('engine-failed', 'The engine sent more data than it announced.');
          }
          if (received === output.length) {
            finish({ result: resultOf(outputFile(file, summary, output), false, summary, started) });
          }
          return;
      }
    });

    report({ phase: 'queued', face: 0, faces: 0, step: 0, steps: 0 });
    send({ type: 'start', size: bytes.length, mime: file.type.slice(0, 200) });
    for (let offset = 0; offset < bytes.length && !settled; offset += CLOAK_CHUNK_BYTES) {
      send({ type: 'chunk', data: bytesToBase64(bytes.subarray(offset, offset + CLOAK_CHUNK_BYTES)) });
    }
  });
}

function errorFrom(failure: CloakFailure): CloakFileError {
  switch (failure.code) {
    case 'bad-image':
    case 'engine-failed':
    case 'cancelled':
      return new CloakFileError(failure.code, failure.message);
    case 'refused':
      // Face Cloak is off for this site, or too much is queued: not something a retry fixes at once.
      return new CloakFileError('extension-unavailable', failure.message);
    default:
      return new CloakFileError('engine-failed', String((failure as CloakFailure).message));
  }
}

function resultOf(file: File, unchanged: boolean, summary: CloakSummary, started: number): CloakFileResult {
  return {
    file,
    unchanged,
    faces: summary.faces.length,
    skippedSmallFaces: summary.skippedSmallFaces,
    ms: performance.now() - started,
  };
}

/**
 * The cloaked file as the page will see it: same name and type when the format stayed (the type exactly as the page
 * gave it, even a non-standard 'image/jpg'), `.png` and image/png when GIF, AVIF or BMP became PNG; a fresh
 * lastModified, as for a file just saved.
 */
function outputFile(original: File, summary: CloakSummary, bytes: Uint8Array): File {
  const sameFormat = ['jpeg', 'png', 'webp'].includes(summary.inputFormat);
  const name = sameFormat ? original.name : pngName(original.name);
  const type = sameFormat && original.type ? original.type : summary.mime;
  return new File([bytes as Uint8Array<ArrayBuffer>], name, { type, lastModified: Date.now() });
}

function pngName(name: string): string {
  const stem = name.replace(/\.[^./\\]*$/, '');
  return `${stem || 'image'}.png`;
}
