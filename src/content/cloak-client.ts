/**
 * The isolated-world API for cloaking one file: `cloakFile(file)` sends the file to the extension (background ->
 * offscreen engine) and resolves with the cloaked file. The upload interception (the rest of src/content/) calls
 * this; it never talks to the background itself.
 *
 * INTERFACE ONLY in this commit (issue 4): the types and the function signature are final so the interception work
 * can build against them; the transport behind `cloakFile` lands in the next commits. Until then `cloakFile`
 * rejects with code 'extension-unavailable', which callers must handle anyway.
 */

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

export function cloakFile(file: File, options?: CloakFileOptions): Promise<CloakFileResult> {
  void file;
  void options;
  return Promise.reject(new CloakFileError('extension-unavailable', 'the cloak service is not wired up yet (issue 4)'));
}
