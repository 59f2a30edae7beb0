/**
 * What the hooks share: which files are photos, sending a selection's photos to be cloaked and putting the result
 * back in the page's order, the files the page then reads, and where the overlay should appear.
 */
import type { AnchorRect, FileOutcome, UploadSource } from '../bridge-protocol.ts';
import { replaceGetter } from './disguise.ts';
import { SafeWeakMap, natives as n, matches, then } from './natives.ts';
import { abort, cloak } from './page-bridge.ts';

// SVG is a drawing, not a photo; every other image type goes to the engine, which answers 'bad-image' for what it
// cannot decode (HEIC in Chromium), and the person then chooses: nothing is passed on uncloaked silently.
const PHOTO_TYPE = /^image\/(?!svg\+xml$)/;
// Some pickers and drags give an empty type; then the name decides.
const PHOTO_NAME = /\.(jpe?g|jfif|png|webp|gif|bmp|avif|heic|heif|tiff?)$/;

export function isPhoto(file: File): boolean {
  const type = n.blobType(file);
  return type === '' ? matches(PHOTO_NAME, n.fileName(file)) : matches(PHOTO_TYPE, type);
}

export function fileListToArray(list: FileList | null): File[] {
  const files: File[] = [];
  if (!list) return files;
  const length = n.fileListLength(list);
  for (let i = 0; i < length; i++) {
    const file = n.fileListItem(list, i);
    if (file) files[files.length] = file;
  }
  return files;
}

export function hasPhoto(files: File[]): boolean {
  for (let i = 0; i < files.length; i++) if (isPhoto(files[i])) return true;
  return false;
}

export interface CloakRun {
  id: number;
  /** Every file of the selection in its order, photos replaced by what the page should get; null when cancelled. */
  files: Promise<File[] | null>;
}

/** Sends the photos among `files` to be cloaked; non-photos (videos, documents) stay as they are. */
export function cloakFiles(source: UploadSource, files: File[], anchor: AnchorRect | null): CloakRun {
  const photos: File[] = [];
  for (let i = 0; i < files.length; i++) if (isPhoto(files[i])) photos[photos.length] = files[i];
  const batch = cloak(source, photos, anchor);
  const result = then(batch.result, (outcomes) => {
    if (outcomes === null) return null;
    if (outcomes.length !== photos.length) {
      // Cannot happen with our isolated script; refusing is safer than guessing which file is which.
      throw new Error('outcome count differs from the photos sent');
    }
    const out: File[] = [];
    let next = 0;
    for (let i = 0; i < files.length; i++) {
      out[out.length] = isPhoto(files[i]) ? forPage(files[i], outcomes[next++]) : files[i];
    }
    return out;
  });
  return { id: batch.id, files: result };
}

export { abort as abortRun };

/**
 * The file the page reads: the cloaked pixels under the original's name, type, lastModified and webkitRelativePath,
 * so nothing but the pixels differs. When the engine had to change the format (GIF, AVIF and BMP come back as PNG)
 * the cloaked file's own name and type are kept, since the bytes are PNG.
 */
function forPage(original: File, outcome: FileOutcome): File {
  if (outcome.kind === 'original') return original;
  const cloaked = outcome.file;
  const type = n.blobType(original);
  const sameFormat = type === '' || type === n.blobType(cloaked);
  const file = new n.File([cloaked], n.fileName(sameFormat ? original : cloaked), {
    type: sameFormat ? type : n.blobType(cloaked),
    lastModified: n.fileLastModified(original),
  });
  const path = n.fileRelativePath(original);
  if (path) relativePaths.set(file, path);
  return file;
}

/** Cloaked files that stand for a file picked through a folder input (`webkitdirectory`): the original's path. */
const relativePaths = new SafeWeakMap<File, string>();

/**
 * A folder input (`<input type=file webkitdirectory>`) gives each file its path inside the chosen folder
 * ("holiday/beach/1.jpg"), which upload code uses to rebuild the folder. `new File()` cannot set it (the File
 * constructor has no such option, and it is a read-only getter), and an own property on the file would show, so
 * File.prototype's getter answers for the cloaked files we made and defers to the native one for every other file
 * (and throws the native TypeError for a `this` that is not a File).
 */
export function hookRelativePaths(): void {
  replaceGetter<string>(n.File.prototype, 'webkitRelativePath', (original) => {
    const getter = n.getOwnPropertyDescriptor(
      {
        get webkitRelativePath(): string {
          const path = typeof this === 'object' && this !== null ? relativePaths.get(this as unknown as File) : undefined;
          return path ?? (n.apply(original, this, []) as string);
        },
      },
      'webkitRelativePath',
    )!.get!;
    return getter as (this: unknown) => string;
  });
}

/** A DataTransfer holding `text` parts (type -> data, e.g. text/html of a paste) and then `files`. */
export function dataTransferOf(files: File[], text: TextPart[]): DataTransfer {
  const dt = new n.DataTransfer();
  for (let i = 0; i < text.length; i++) n.dataTransferSetData(dt, text[i].type, text[i].data);
  const items = n.dataTransferItems(dt);
  for (let i = 0; i < files.length; i++) n.itemListAdd(items, files[i]);
  return dt;
}

export interface TextPart {
  type: string;
  data: string;
}

/** The non-file parts of a DataTransfer (text/plain, text/html, text/uri-list...), read while it is readable. */
export function textParts(dt: DataTransfer): TextPart[] {
  const parts: TextPart[] = [];
  const types = n.dataTransferTypes(dt);
  for (let i = 0; i < types.length; i++) {
    const type = types[i];
    if (type !== 'Files') parts[parts.length] = { type, data: n.dataTransferGetData(dt, type) };
  }
  return parts;
}

export function emptyFileList(): FileList {
  return n.dataTransferFiles(new n.DataTransfer());
}

export function fileListOf(files: File[]): FileList {
  return n.dataTransferFiles(dataTransferOf(files, []));
}

/** The element's box when it is visible, else null. */
export function rectOf(target: EventTarget | null | undefined): AnchorRect | null {
  if (!(target instanceof n.Element) || !n.isConnected(target)) return null;
  const rect = n.getBoundingClientRect(target);
  if (rect.width <= 0 || rect.height <= 0) return null;
  return { x: rect.x, y: rect.y, width: rect.width, height: rect.height };
}

/** What the person last clicked, or where they last dropped: the overlay's place when a control gives none. */
let lastInteraction: { rect: AnchorRect | null; target: EventTarget | null; at: number } | null = null;

/**
 * Remembers what the person last clicked: a hidden file input (X, Mastodon) is opened by a click on a visible
 * button, and the overlay belongs next to that button.
 */
export function trackClicks(): void {
  n.addEventListener(
    window,
    'click',
    (event) => {
      if (!event.isTrusted) return;
      const target = n.composedPath(event)[0];
      if (target) lastInteraction = { rect: null, target, at: n.now() };
    },
    { capture: true, passive: true },
  );
}

/** Remembers where a drop landed, for photos the page reads out of its folders later. */
export function noteInteraction(rect: AnchorRect): void {
  lastInteraction = { rect, target: null, at: n.now() };
}

/** Where the overlay for `control` goes: the control itself when visible, else what was last clicked or dropped on. */
export function anchorFor(control: EventTarget | null): AnchorRect | null {
  const own = rectOf(control);
  if (own) return own;
  if (lastInteraction && n.now() - lastInteraction.at < 5 * 60_000) return lastInteraction.rect ?? rectOf(lastInteraction.target);
  return null;
}
