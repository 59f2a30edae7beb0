/**
 * Cloaks the photos of one user action (a selection, a drop, a paste), one after the other, with the overlay showing
 * progress. A failure pauses the batch and asks the person: Retry, Upload original, or Cancel, unless their settings
 * (`onCloakFailure`) chose for them once and for all; either way the overlay says what happened and why. Nothing is
 * dropped or passed on uncloaked without the person having chosen it; a photo without a face is handed over as it
 * is, at once.
 */
import type { AnchorRect, FileOutcome } from './bridge-protocol.ts';
import { CloakFileError, type CloakFileProgress, cloakFile } from './cloak-client.ts';
import { type Overlay, showOverlay } from './overlay.ts';
import { type UploadPolicy, sendMessage } from '../shared/messages.ts';
import { CLOAK_TIMEOUT_SECONDS } from '../shared/settings.ts';

/** What protectOne decided for one file: an outcome, or the batch is cancelled (by the person, or by the settings). */
type OneResult = FileOutcome | { kind: 'cancelled'; because: string | null };

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
  const unprotected: string[] = [];
  try {
    for (let index = 0; index < files.length; index++) {
      const outcome = await protectOne(files, index, overlay, cancel.signal, unprotected);
      if (outcome.kind === 'cancelled') {
        if (outcome.because) overlay.finish(outcome.because);
        else overlay.close();
        return null;
      }
      if (outcome.kind === 'cloaked') cloaked++;
      outcomes.push(outcome);
    }
    overlay.finish(
      unprotected.length > 0
        ? `${unprotected.join(' ')} Uploaded unprotected, as your Face Cloak settings say for failures.`
        : finishText(files.length, cloaked),
    );
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
  /** Sentences about photos passed on unprotected by the settings' choice, for the overlay's last word. */
  unprotected: string[],
): Promise<OneResult> {
  const cancelled: OneResult = { kind: 'cancelled', because: null };
  const file = files[index];
  const text = files.length === 1 ? 'Protecting your photo…' : `Protecting ${index + 1} of ${files.length} photos…`;
  for (;;) {
    if (signal.aborted) return cancelled;
    overlay.progress(text, index / files.length, 'Waiting for the engine');
    // Asked for each attempt, so a retry after the person raised the limit (or changed the choice) gets the new one.
    const policy = await uploadPolicy();
    try {
      const result = await cloakFile(file, {
        signal,
        timeoutMs: policy.cloakTimeoutSeconds * 1000,
        onProgress: (p) => overlay.progress(text, (index + fractionOf(p)) / files.length, describe(p)),
      });
      if (__TEST__) console.debug(`[face-cloak] ${file.name}: ${result.faces} faces, ${Math.round(result.ms)} ms`);
      return result.unchanged ? { kind: 'original' } : { kind: 'cloaked', file: result.file };
    } catch (error) {
      if (signal.aborted || (error instanceof CloakFileError && error.code === 'cancelled')) return cancelled;
      console.debug('[face-cloak] could not protect', file.name, error);
      const why = `Could not protect “${file.name}”: ${causeOf(error)}`;
      if (policy.onCloakFailure === 'original') {
        unprotected.push(why);
        return { kind: 'original' };
      }
      if (policy.onCloakFailure === 'cancel') {
        return { kind: 'cancelled', because: `${why} Upload cancelled, as your Face Cloak settings say for failures.` };
      }
      const choice = await overlay.ask(`Could not protect “${file.name}”`, reasonOf(error));
      if (choice === 'cancel') return cancelled;
      if (choice === 'original') return { kind: 'original' };
    }
  }
}

/**
 * How long a single photo may take and what to do when it fails (settings' `cloakTimeoutSeconds`, `onCloakFailure`).
 * When the background cannot say: the default time, and ask (cloakFile then fails on its own with
 * 'extension-unavailable', and the person chooses).
 */
async function uploadPolicy(): Promise<UploadPolicy> {
  try {
    return await sendMessage('background:getUploadPolicy', undefined, { timeoutMs: 5_000 });
  } catch (error) {
    console.debug('[face-cloak] could not read the upload policy:', error);
    return { cloakTimeoutSeconds: CLOAK_TIMEOUT_SECONDS.default, onCloakFailure: 'ask' };
  }
}

/** Why it failed, in one short sentence, for the overlay when the settings decide (nobody is asked). */
function causeOf(error: unknown): string {
  const said = error instanceof Error && error.message ? error.message.replace(/\.?$/, '.') : '';
  const code = error instanceof CloakFileError ? error.code : 'engine-failed';
  if (code === 'timeout') return said || 'it took too long.';
  if (code === 'bad-image') return said || 'it could not be read as an image.';
  return said || 'the protection engine failed.';
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
