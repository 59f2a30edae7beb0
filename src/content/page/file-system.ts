/**
 * Files a page reads through the file system APIs rather than from a FileList. Every photo the person hands the page
 * this way comes out cloaked; the page's own stored files are read back as they are.
 * - Handles: `showOpenFilePicker()`, `showDirectoryPicker()` and everything under it (`values()`, `entries()`,
 *   `getFileHandle()`, nested folders), `DataTransferItem.getAsFileSystemHandle()` (react-dropzone with
 *   `useFsAccessApi`, dropped files and folders), handles kept in IndexedDB from an earlier pick. All are read through
 *   `FileSystemFileHandle.prototype.getFile`, which is wrapped: a photo comes back cloaked unless the handle lies in
 *   the page's own origin-private file system (`navigator.storage.getDirectory().resolve(handle)` finds it there),
 *   which holds only what the page wrote itself from files that came in through one of the hooks already. So the
 *   pickers themselves need no hook: whatever a handle came from, only its `getFile()` reads the person's pixels.
 * - Entries: `DataTransferItem.webkitGetAsEntry()` (Uppy, Dropzone, FilePond, react-dropzone for folders): dropped
 *   files, and folders read with `createReader().readEntries()` or `getFile(path)`. `FileSystemFileEntry.prototype.file`
 *   is wrapped likewise; entries of the page's own sandboxed file system (`webkitRequestFileSystem`, whose URLs start
 *   with "filesystem:") are read as they are. Chromium has no global for the entry interfaces, so their prototypes are
 *   patched when the drop hook meets the first entry, before the page can hold one (see `hookEntries`).
 * A drop we re-dispatch carries a DataTransfer we built, whose items have no entry or handle of their own; the
 * wrapped `webkitGetAsEntry`/`getAsFileSystemHandle` answer with the real ones taken from the person's drop, mapped
 * to the cloaked file, so reading them neither re-cloaks nor reveals the original.
 *
 * Reads that arrive close together (Promise.all over several handles) are cloaked as one batch, so the overlay
 * counts "2 of 5" rather than showing five overlays.
 *
 * Not covered (issue 4): a handle posted to a worker and read there (no content script runs in workers); a page that
 * takes FileSystemFileEntry.prototype.file from its own sandboxed file system before any drop and calls that native
 * later; handles of the page's own Storage Buckets (only the default origin-private root is asked), whose photos
 * would be cloaked on read.
 */
import type { UploadSource } from '../bridge-protocol.ts';
import { replaceMethod } from './disguise.ts';
import { anchorFor, cloakFiles, isPhoto } from './files.ts';
import { SafeWeakMap, natives as n, matches, then } from './natives.ts';
import { wantsUploads } from './page-bridge.ts';

/**
 * Files of the drops we re-dispatch -> the entry / handle of the file the person dropped. Keyed by the File: a
 * DataTransferItemList hands out a new DataTransferItem object on every access, but each gives back the very File
 * that was added.
 */
const droppedEntry = new SafeWeakMap<File, FileSystemEntry>();
const droppedHandle = new SafeWeakMap<File, Promise<FileSystemHandle | null>>();
/** Entries of dropped photos -> the file the page gets instead. */
const entryFile = new SafeWeakMap<FileSystemEntry, File>();
/** Handles whose photo has been cloaked -> that result, valid while the file on disk is unchanged. */
const handleFile = new SafeWeakMap<FileSystemHandle, { lastModified: number; size: number; file: Promise<File> }>();

/**
 * Makes the item holding `file` (in a DataTransfer we built) answer with the person's own entry and handle, which
 * read as `file`. `original`: the file as dropped, which the handle's getFile() gives natively and is compared with.
 */
export function linkItem(
  file: File,
  original: File,
  entry: FileSystemEntry | null,
  handle: Promise<FileSystemHandle | null> | null,
): void {
  if (entry) {
    droppedEntry.set(file, entry);
    entryFile.set(entry, file);
  }
  if (handle) {
    droppedHandle.set(
      file,
      then(handle, (h) => {
        if (h) handleFile.set(h, { lastModified: n.fileLastModified(original), size: n.blobSize(original), file: n.Promise.resolve(file) });
        return h;
      }),
    );
  }
}

/** The File an item holds, when it may be one of ours; null for anything else (the native call then answers). */
function linkedFile(item: DataTransferItem): File | null {
  try {
    return n.itemKind(item) === 'file' ? n.itemGetAsFile(item) : null;
  } catch {
    return null; // not a DataTransferItem: the native call throws its own TypeError
  }
}

export function hookFileSystem(): void {
  const itemProto = DataTransferItem.prototype;
  replaceMethod<(this: DataTransferItem) => FileSystemEntry | null>(itemProto, 'webkitGetAsEntry', (original) =>
    ({
      webkitGetAsEntry(this: DataTransferItem): FileSystemEntry | null {
        const file = linkedFile(this);
        const linked = file ? droppedEntry.get(file) : undefined;
        return linked !== undefined ? linked : n.apply(original, this, []);
      },
    }).webkitGetAsEntry,
  );
  replaceMethod<(this: DataTransferItem) => Promise<FileSystemHandle | null>>(itemProto, 'getAsFileSystemHandle', (original) =>
    ({
      getAsFileSystemHandle(this: DataTransferItem): Promise<FileSystemHandle | null> {
        const file = linkedFile(this);
        const linked = file ? droppedHandle.get(file) : undefined;
        return linked !== undefined ? linked : n.apply(original, this, []);
      },
    }).getAsFileSystemHandle,
  );

  if (typeof FileSystemFileHandle !== 'undefined') {
    replaceMethod<(this: FileSystemFileHandle) => Promise<File>>(FileSystemFileHandle.prototype, 'getFile', (original) =>
      ({
        getFile(this: FileSystemFileHandle): Promise<File> {
          // The native call first: it validates `this` and rejects exactly as it would without us.
          return then(n.apply(original, this, []), (file) => forHandle(this, file));
        },
      }).getFile,
    );
  }

  // Firefox names the entry interfaces globally: patch them now. (Chromium: see hookEntries.)
  const globals = globalThis as unknown as Record<string, { prototype: object } | undefined>;
  const fileEntry = globals.FileSystemFileEntry?.prototype;
  if (fileEntry) hookFileEntryPrototype(fileEntry);
  const directoryEntry = globals.FileSystemDirectoryEntry?.prototype;
  if (directoryEntry) hookDirectoryEntryPrototype(directoryEntry);
  const reader = globals.FileSystemDirectoryReader?.prototype;
  if (reader) hookReaderPrototype(reader);
}

/** The page's origin-private file system root, asked for once: on the first photo read through a handle. */
let ownRoot: Promise<FileSystemDirectoryHandle | null> | null = null;

/**
 * Whether `handle` lies in the page's origin-private file system. Where there is none (no secure context, a sandboxed
 * frame: getDirectory rejects), no handle can be the page's own.
 */
function isPagesOwn(handle: FileSystemHandle): Promise<boolean> {
  const { storageGetDirectory: getDirectory, directoryHandleResolve: resolve } = n;
  if (!getDirectory || !resolve) return n.Promise.resolve(false);
  if (!ownRoot) {
    try {
      const storage = n.navigatorStorage(navigator);
      ownRoot = storage ? then(getDirectory(storage), (root) => root, () => null) : n.Promise.resolve(null);
    } catch {
      ownRoot = n.Promise.resolve(null);
    }
  }
  return then(ownRoot, (root) =>
    root ? then(resolve(root, handle), (path) => path !== null, () => false) : false,
  );
}

function forHandle(handle: FileSystemHandle, file: File): Promise<File> | File {
  if (!wantsUploads() || !isPhoto(file)) return file;
  const lastModified = n.fileLastModified(file);
  const size = n.blobSize(file);
  const cached = handleFile.get(handle);
  if (cached && cached.lastModified === lastModified && cached.size === size) return cached.file;
  let own = false;
  const delivered = then(isPagesOwn(handle), (isOwn) => {
    own = isOwn;
    return isOwn ? file : collect('file-handle', file);
  });
  handleFile.set(handle, { lastModified, size, file: delivered });
  // The page's own files are asked about again on every read; a cancelled or failed read is not remembered either:
  // the next getFile() asks again.
  then(
    delivered,
    () => {
      if (own) handleFile.delete(handle);
    },
    () => handleFile.delete(handle),
  );
  return delivered;
}

/** The legacy entry API's natives, captured from the first entry met (Chromium has no global to take them from). */
let entryNatives: { toURL: (entry: FileSystemEntry) => string; isFile: (entry: FileSystemEntry) => boolean } | null = null;
let fileEntryPatched = false;
let directoryEntryPatched = false;
let readerPatched = false;

/**
 * Patches the prototypes of `entry`'s kind. Chromium has no global `FileSystemFileEntry`, `FileSystemDirectoryEntry`
 * or `FileSystemDirectoryReader`: their prototypes are only reachable from an entry, and the first entry of the
 * person's files a page can see comes from a drop, which passes our drop hook first (drop-paste.ts calls this for
 * every dropped entry, folders included). A drop of folders only holds no file entry: then the directory entry's
 * `getFile()` and its reader's `readEntries()` are wrapped, and they patch the file entry's prototype from the first
 * file entry they hand out, before the page's callback gets it. Once that is done they pass straight through.
 */
export function hookEntries(entry: FileSystemEntry): void {
  if (fileEntryPatched && directoryEntryPatched && readerPatched) return;
  if (!entryNatives) {
    const base = entryBase(entry);
    const toURL = base && (n.getOwnPropertyDescriptor(base, 'toURL')?.value as ((this: FileSystemEntry) => string) | undefined);
    const isFile = base && n.getOwnPropertyDescriptor(base, 'isFile')?.get;
    if (typeof toURL === 'function' && typeof isFile === 'function') {
      entryNatives = { toURL: (e) => n.apply(toURL, e, []), isFile: (e) => n.apply(isFile, e, []) as boolean };
    }
  }
  const proto = Object.getPrototypeOf(entry) as object;
  if (entryNatives ? entryNatives.isFile(entry) : entry.isFile) {
    hookFileEntryPrototype(proto);
    return;
  }
  hookDirectoryEntryPrototype(proto);
  const createReader = n.getOwnPropertyDescriptor(proto, 'createReader')?.value as
    | ((this: FileSystemDirectoryEntry) => FileSystemDirectoryReader)
    | undefined;
  if (typeof createReader === 'function' && !readerPatched) {
    // A reader of our own, only to reach the prototype: creating one reads nothing.
    hookReaderPrototype(Object.getPrototypeOf(n.apply(createReader, entry, [])) as object);
  }
}

/** FileSystemEntry.prototype: the prototype that owns `toURL`, above the file / directory entry's own. */
function entryBase(entry: FileSystemEntry): object | null {
  let proto = Object.getPrototypeOf(entry) as object | null;
  for (let depth = 0; proto && depth < 4; depth++) {
    if (n.getOwnPropertyDescriptor(proto, 'toURL')) return proto;
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  return null;
}

/** Hands every file entry among `entries` to `hookEntries` (the first one patches the file prototype). */
function hookAll(entries: ArrayLike<FileSystemEntry> | FileSystemEntry | null | undefined): void {
  try {
    if (!entries || typeof entries !== 'object') return;
    if ('length' in entries) {
      for (let i = 0; i < entries.length && !fileEntryPatched; i++) hookEntries(entries[i]);
    } else {
      hookEntries(entries);
    }
  } catch {
    // Never let the hook change what the page's callback gets.
  }
}

function hookDirectoryEntryPrototype(proto: object): void {
  if (directoryEntryPatched) return;
  directoryEntryPatched = true;
  type GetFile = (this: FileSystemDirectoryEntry, path?: string | null, options?: FileSystemFlags, success?: FileSystemEntryCallback, error?: ErrorCallback) => void;
  replaceMethod<GetFile>(proto, 'getFile', (original) =>
    ({
      getFile(this: FileSystemDirectoryEntry, ...args: Parameters<GetFile>): void {
        const success = args[2];
        if (fileEntryPatched || typeof success !== 'function') {
          n.apply(original, this, args);
          return;
        }
        const wrapped: FileSystemEntryCallback = (entry) => {
          hookAll(entry);
          success(entry);
        };
        n.apply(original, this, [args[0], args[1], wrapped, args[3]]);
      },
    }).getFile,
  );
}

function hookReaderPrototype(proto: object): void {
  if (readerPatched) return;
  readerPatched = true;
  type ReadEntries = (this: FileSystemDirectoryReader, success: FileSystemEntriesCallback, error?: ErrorCallback) => void;
  replaceMethod<ReadEntries>(proto, 'readEntries', (original) =>
    ({
      readEntries(this: FileSystemDirectoryReader, ...args: Parameters<ReadEntries>): void {
        const success = args[0];
        if (fileEntryPatched || typeof success !== 'function') {
          n.apply(original, this, args);
          return;
        }
        const wrapped: FileSystemEntriesCallback = (entries) => {
          hookAll(entries);
          success(entries);
        };
        n.apply(original, this, args.length > 1 ? [wrapped, args[1]] : [wrapped]);
      },
    }).readEntries,
  );
}

function hookFileEntryPrototype(proto: object): void {
  if (fileEntryPatched) return;
  fileEntryPatched = true;
  type FileMethod = (this: FileSystemFileEntry, success: FileCallback, error?: ErrorCallback) => void;
  replaceMethod<FileMethod>(proto, 'file', (original) =>
    ({
      file(this: FileSystemFileEntry, success: FileCallback, error?: ErrorCallback): void {
        const linked = entryFile.get(this);
        if (typeof success !== 'function' || (linked === undefined && (!wantsUploads() || isSandboxed(this)))) {
          // Not ours to change: the native call keeps its own argument errors and behaviour.
          n.apply(original, this, [success, error]);
          return;
        }
        if (linked !== undefined) {
          n.apply(original, this, [() => success(linked), error]);
          return;
        }
        const onFile = (file: File) => {
          then(
            forEntry(file),
            (delivered) => success(delivered),
            (reason) => {
              if (typeof error === 'function') error(reason as DOMException);
            },
          );
        };
        n.apply(original, this, [onFile, error]);
      },
    }).file,
  );
}

/**
 * An entry of the page's own sandboxed file system (`webkitRequestFileSystem`): its URL is
 * "filesystem:<origin>/temporary/...". Dropped files and folders live in an isolated file system without such a URL.
 */
function isSandboxed(entry: FileSystemEntry): boolean {
  // Without the natives (Firefox, whose entries have no sandboxed file system) every entry is the person's.
  if (!entryNatives) return false;
  try {
    const url = entryNatives.toURL(entry);
    return typeof url === 'string' && matches(/^filesystem:/, url);
  } catch {
    return false;
  }
}

function forEntry(file: File): Promise<File> {
  return isPhoto(file) ? collect('file-entry', file) : n.Promise.resolve(file);
}

interface Pending {
  source: UploadSource;
  files: File[];
  settle: { resolve: (file: File) => void; reject: (error: unknown) => void }[];
}
let pending: Pending | null = null;
const BATCH_WINDOW_MS = 30;

/** Queues `file` into this task's batch. Rejects with an AbortError when the person cancels (like a closed picker). */
function collect(source: UploadSource, file: File): Promise<File> {
  return new n.Promise<File>((resolve, reject) => {
    if (!pending || pending.source !== source) {
      const batch: Pending = { source, files: [], settle: [] };
      pending = batch;
      // Reads that come within a few milliseconds of each other are one selection (each handle's ownership is
      // checked asynchronously, so the reads of one Promise.all do not all arrive in the same task).
      n.setTimeout(() => flush(batch), BATCH_WINDOW_MS);
    }
    pending.files[pending.files.length] = file;
    pending.settle[pending.settle.length] = { resolve, reject };
  });
}

function flush(batch: Pending): void {
  if (pending === batch) pending = null;
  const { settle } = batch;
  const fail = (error: unknown) => {
    for (let i = 0; i < settle.length; i++) settle[i].reject(error);
  };
  try {
    then(
      cloakFiles(batch.source, batch.files, anchorFor(null)).files,
      (files) => {
        if (files === null) {
          fail(new n.DOMException('The user aborted a request.', 'AbortError'));
          return;
        }
        for (let i = 0; i < settle.length; i++) settle[i].resolve(files[i]);
      },
      () => fail(new n.DOMException('The file could not be read.', 'NotReadableError')),
    );
  } catch {
    fail(new n.DOMException('The file could not be read.', 'NotReadableError'));
  }
}
