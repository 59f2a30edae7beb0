/**
 * The private channel between the MAIN-world upload hook (src/content/main-world.ts) and the isolated-world content
 * script (src/content/content.ts). Pure code shared by both worlds: message types, their runtime checks, and the
 * handshake constants.
 *
 * Handshake: the isolated script creates a MessageChannel and hands `port2` to the MAIN world inside a synchronously
 * dispatched, cancelable `MessageEvent` on `window`. Both scripts run at document_start, before any page script, so
 * no page listener can see that event; the MAIN world acknowledges by calling `preventDefault()` on it (the event
 * object is shared between worlds, its flags too), after which the isolated script never hands the port out again.
 * Whichever script runs second completes the handshake: the MAIN world announces itself with `HELLO_EVENT`, the
 * isolated script answers with the port. Everything after that travels over the port, which the page cannot reach:
 * no `window.postMessage` broadcast a page (or another frame) could read or forge.
 *
 * Each side still checks every message it receives (`isPageMessage`, `isIsolatedMessage`): the MAIN world shares its
 * realm with the page, so what comes from it is treated as hostile input.
 */

export const HELLO_EVENT = 'face-cloak:hello';
export const PORT_EVENT = 'face-cloak:port';
export const PROTOCOL = 'face-cloak/1';

/** How many files one user action may send; a selection beyond this goes through in chunks of the page's making. */
export const MAX_BATCH_FILES = 100;

/** Where the overlay should appear: the upload control's box, in this frame's viewport coordinates. */
export interface AnchorRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** How the page received the files: shown nowhere, used for diagnostics and test timing. */
export type UploadSource = 'input' | 'drop' | 'paste' | 'file-handle' | 'file-entry';

/** MAIN world -> isolated world. */
export type PageMessage =
  /** Cloak these photos (the MAIN world has already left non-photos out). */
  | { type: 'cloak'; id: number; source: UploadSource; files: File[]; anchor: AnchorRect | null }
  /** The page no longer needs batch `id` (the person chose other files on the same control). */
  | { type: 'abort'; id: number };

export type FileOutcome =
  /** Hand this file to the page instead of the original. */
  | { kind: 'cloaked'; file: File }
  /** Hand the original to the page: no face to cloak, or the person chose to upload the original. */
  | { kind: 'original' };

/** Isolated world -> MAIN world. */
export type IsolatedMessage =
  /** Whether uploads on this site are to be cloaked (sent at once and whenever the settings change). */
  | { type: 'settings'; enabled: boolean }
  /** Batch `id` is done: one outcome per file sent, in order. */
  | { type: 'done'; id: number; outcomes: FileOutcome[] }
  /** The person cancelled batch `id`: the page gets none of its files. */
  | { type: 'cancelled'; id: number };

// Built-ins captured when the module is evaluated (at document_start, before page scripts): the MAIN world runs these
// checks in the page's realm, where a page may later replace Array.prototype methods. Hence index loops, no
// `every`/`includes`.
const isArray = Array.isArray;
const numberIsFinite = Number.isFinite;
const isSafeInteger = Number.isSafeInteger;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
const isId = (value: unknown): value is number => isSafeInteger(value) && (value as number) > 0;
const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && numberIsFinite(value);
const isSource = (value: unknown): value is UploadSource =>
  value === 'input' || value === 'drop' || value === 'paste' || value === 'file-handle' || value === 'file-entry';

function isAnchor(value: unknown): value is AnchorRect | null {
  return (
    value === null ||
    (isRecord(value) &&
      isFiniteNumber(value.x) &&
      isFiniteNumber(value.y) &&
      isFiniteNumber(value.width) &&
      isFiniteNumber(value.height))
  );
}

/**
 * `fileClass` is the receiving realm's `File`: a structured clone arrives as that world's File, and anything else
 * (a plain object claiming to be a file) is refused.
 */
export function isPageMessage(value: unknown, fileClass: typeof File = File): value is PageMessage {
  if (!isRecord(value) || !isId(value.id)) return false;
  if (value.type === 'abort') return true;
  if (value.type !== 'cloak' || !isSource(value.source) || !isAnchor(value.anchor)) return false;
  const { files } = value;
  if (!isArray(files) || files.length === 0 || files.length > MAX_BATCH_FILES) return false;
  for (let i = 0; i < files.length; i++) if (!(files[i] instanceof fileClass)) return false;
  return true;
}

export function isIsolatedMessage(value: unknown, fileClass: typeof File = File): value is IsolatedMessage {
  if (!isRecord(value)) return false;
  switch (value.type) {
    case 'settings':
      return typeof value.enabled === 'boolean';
    case 'cancelled':
      return isId(value.id);
    case 'done': {
      const { outcomes } = value;
      if (!isId(value.id) || !isArray(outcomes)) return false;
      for (let i = 0; i < outcomes.length; i++) {
        const outcome: unknown = outcomes[i];
        if (!isRecord(outcome)) return false;
        if (outcome.kind === 'cloaked' ? !(outcome.file instanceof fileClass) : outcome.kind !== 'original') return false;
      }
      return true;
    }
    default:
      return false;
  }
}
