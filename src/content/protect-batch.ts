/**
 * Cloaks the photos of one user action (a selection, a drop, a paste), one after the other, with the overlay showing
 * progress. A failure pauses the batch and asks the person: Retry, Upload original, or Cancel. Nothing is dropped or
 * passed on uncloaked without them choosing it; a photo without a face is handed over as it is, at once.
 */
import type { AnchorRect, FileOutcome } from './bridge-protocol.ts';
import { CloakFileError, type CloakFileProgress, cloakFile } from './cloak-client.ts';
import { type Overlay, showOverlay } from './overlay.ts';
import { sendMessage } from '../shared/messages.ts';
import { CLOAK_TIMEOUT_SECONDS } from '../shared/settings.ts';

/**
 * Resolves with one outcome per file, or null when the person (or `signal`, when the page dropped the selection)
 * cancelled.
 */
export async function protectBatch(
  files: File[],
  anchor: AnchorRect | null,
  signal: AbortSignal,
): Promise<FileOutcome[] | null> {
  const cancel = new AbortController();
  const onAbort = () => cancel.abort();
  signal.addEventListener('abort', onAbort);
  const overlay = showOverlay(anchor, () => cancel.abort());
  const outcomes: FileOutcome[] = [];
  let cloaked = 0;
  try {
    for (let index = 0; index < files.length; index++) {
      const outcome = await protectOne(files, index, overlay, cancel.signal);
      if (outcome === null) {
        overlay.close();
        return null;
      }
      if (outcome.kind === 'cloaked') cloaked++;
      outcomes.push(outcome);
    }
    overlay.finish(finishText(files.length, cloaked));
    return outcomes;
  } catch (error) {
    overlay.close();
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

async function protectOne(
  files: File[],
  index: number,
  overlay: Overlay,
  signal: AbortSignal,
): Promise<FileOutcome | null> {
  const file = files[index];
  const text = files.length === 1 ? 'Protecting your photo…' : `Protecting ${index + 1} of ${files.length} photos…`;
  for (;;) {
    if (signal.aborted) return null;
    overlay.progress(text, index / files.length, 'Waiting for the engine');
    try {
      const result = await cloakFile(file, {
        signal,
        // Asked for each attempt, so a retry after the person raised the limit gets the new one.
        timeoutMs: (await photoTimeoutSeconds()) * 1000,
        onProgress: (p) => overlay.progress(text, (index + fractionOf(p)) / files.length, describe(p)),
      });
      if (__TEST__) console.debug(`[face-cloak] ${file.name}: ${result.faces} faces, ${Math.round(result.ms)} ms`);
      return result.unchanged ? { kind: 'original' } : { kind: 'cloaked', file: result.file };
    } catch (error) {
      if (signal.aborted || (error instanceof CloakFileError && error.code === 'cancelled')) return null;
      console.debug('[face-cloak] could not protect', file.name, error);
      const choice = await overlay.ask(`Could not protect “${file.name}”`, reasonOf(error));
      if (choice === 'cancel') return null;
      if (choice === 'original') return { kind: 'original' };
    }
  }
}

/**
 * Longest a single photo may take before the person is asked what to do (settings' `cloakTimeoutSeconds`). When the
 * background cannot say, the default: cloakFile then fails on its own with 'extension-unavailable'.
 */
async function photoTimeoutSeconds(): Promise<number> {
  try {
    return (await sendMessage('background:getCloakTimeout', undefined, { timeoutMs: 5_000 })).seconds;
  } catch (error) {
    console.debug('[face-cloak] could not read the cloak timeout:', error);
    return CLOAK_TIMEOUT_SECONDS.default;
  }
}

/** How far one photo is, 0..1: detection is quick, the cloaking steps are most of the time. */
function fractionOf(p: CloakFileProgress): number {
  switch (p.phase) {
    case 'queued':
      return 0;
    case 'detecting':
      return 0.05;
    case 'cloaking': {
      const perFace = p.steps > 0 ? p.step / p.steps : 0;
      return 0.05 + (0.9 * (Math.max(0, p.face - 1) + perFace)) / Math.max(1, p.faces);
    }
    case 'encoding':
      return 0.97;
  }
}

function describe(p: CloakFileProgress): string {
  switch (p.phase) {
    case 'queued':
      return 'Waiting for the engine';
    case 'detecting':
      return 'Looking for faces';
    case 'cloaking':
      return p.faces > 1 ? `Cloaking face ${p.face} of ${p.faces}` : 'Cloaking the face';
    case 'encoding':
      return 'Finishing';
  }
}

/** Why, in the engine's words where it has them (cloak-client's messages are sentences), and what the person can do. */
function reasonOf(error: unknown): string {
  const code = error instanceof CloakFileError ? error.code : 'engine-failed';
  const said = error instanceof Error && error.message ? `${error.message.replace(/\.?$/, '.')} ` : '';
  switch (code) {
    case 'bad-image':
      return `${said || 'It could not be read as an image. '}Upload it unprotected, or cancel?`;
    case 'timeout':
      return `${said || 'Protecting it took too long. '}Retry, upload it unprotected, or cancel?`;
    case 'extension-unavailable':
      return `${said || 'Face Cloak is not reachable on this page. '}Reload the page to retry, or upload it unprotected?`;
    default:
      return `The protection engine failed: ${said}Retry, upload it unprotected, or cancel?`;
  }
}

function finishText(total: number, cloaked: number): string {
  if (total === 1) return cloaked ? 'Photo protected' : 'No face to protect: photo passed on as it is';
  return `Done: ${cloaked} of ${total} photos cloaked (the others had no face, or you chose the original)`;
}
