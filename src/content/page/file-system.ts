/**
 * Files a page reads through the file system APIs rather than from a FileList:
 * - `showOpenFilePicker()` handles and `DataTransferItem.getAsFileSystemHandle()` (react-dropzone with
 *   `useFsAccessApi`): `FileSystemFileHandle.prototype.getFile` is wrapped, so a photo comes back cloaked (handles
 *   from `showDirectoryPicker()` are not followed yet);
 * - `DataTransferItem.webkitGetAsEntry()` (Dropzone, FilePond, folder drops): `FileSystemFileEntry.prototype.file`
 *   is wrapped likewise.
 * A drop we re-dispatch carries a DataTransfer we built, whose items have no entry or handle of their own; the
 * wrapped `webkitGetAsEntry`/`getAsFileSystemHandle` answer with the real ones taken from the person's drop, mapped
 * to the cloaked file, so reading them neither re-cloaks nor reveals the original.
 *
 * Reads that arrive in the same task (Promise.all over several handles) are cloaked as one batch, so the overlay
 * counts "2 of 5" rather than showing five overlays.
 */
import type { UploadSource } from '../bridge-protocol.ts';
import { replaceMethod } from './disguise.ts';
import { cloakFiles, isPhoto } from './files.ts';
import { SafeWeakMap, natives as n, then } from './natives.ts';
import { wantsUploads } from './page-bridge.ts';

/** Items of DataTransfers we built -> the entry / handle of the file the person dropped. */
const itemEntry = new SafeWeakMap<DataTransferItem, FileSystemEntry>();
const itemHandle = new SafeWeakMap<DataTransferItem, Promise<FileSystemHandle | null>>();
/** Entries and handles of dropped photos -> the file the page gets instead. */
const entryFile = new SafeWeakMap<FileSystemEntry, File>();
/**
 * Handles the person gave the page: from `showOpenFilePicker()` or a drop. Only their files are cloaked: a handle the
 * page made itself (its origin-private file system) holds what the page wrote, which came in through one of the
 * hooks already, and cloaking it again on every read would be wrong.
 */
const chosenHandles = new SafeWeakMap<FileSystemHandle, true>();
/** Handles whose photo has been cloaked -> that result, valid while the file on disk is unchanged. */
const handleFile = new SafeWeakMap<FileSystemHandle, { lastModified: number; size: number; file: Promise<File> }>();

/** Makes `item` (of a DataTransfer we built) answer with the person's own entry and handle, reading as `file`. */
export function linkItem(
  item: DataTransferItem,
  file: File,
  entry: FileSystemEntry | null,
  handle: Promise<FileSystemHandle | null> | null,
): void {
  if (entry) {
    itemEntry.set(item, entry);
    entryFile.set(entry, file);
  }
  if (handle) {
    itemHandle.set(
      item,
      then(handle, (h) => {
        if (h) {
          chosenHandles.set(h, true);
          handleFile.set(h, { lastModified: n.fileLastModified(file), size: n.blobSize(file), file: n.Promise.resolve(file) });
        }
        return h;
      }),
    );
  }
}

export function hookFileSystem(): void {
  const itemProto = DataTransferItem.prototype;
  replaceMethod<(this: DataTransferItem) => FileSystemEntry | null>(itemProto, 'webkitGetAsEntry', (original) =>
    ({
      webkitGetAsEntry(this: DataTransferItem): FileSystemEntry | null {
        const linked = itemEntry.get(this);
        return linked !== undefined ? linked : n.apply(original, this, []);
      },
    }).webkitGetAsEntry,
  );
  replaceMethod<(this: DataTransferItem) => Promise<FileSystemHandle | null>>(itemProto, 'getAsFileSystemHandle', (original) =>
    ({
      getAsFileSystemHandle(this: DataTransferItem): Promise<FileSystemHandle | null> {
        const linked = itemHandle.get(this);
        return linked !== undefined ? linked : n.apply(original, this, []);
      },
    }).getAsFileSystemHandle,
  );

  if (typeof (window as unknown as { showOpenFilePicker?: unknown }).showOpenFilePicker === 'function') {
    type Picker = (this: Window, options?: unknown) => Promise<FileSystemFileHandle[]>;
    replaceMethod<Picker>(window, 'showOpenFilePicker', (original) =>
      ({
        showOpenFilePicker(this: Window, ...args: [options?: unknown]): Promise<FileSystemFileHandle[]> {
          return then(n.apply(original, this, args), (handles) => {
            for (let i = 0; i < handles.length; i++) chosenHandles.set(handles[i], true);
            return handles;
          });
        },
      }).showOpenFilePicker,
    );
  }

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
}

let entryPatched = false;

/**
 * Chromium has no global `FileSystemFileEntry`: its prototype is only reachable from an entry, and the first entry
 * a page can see comes from a drop, which passes our drop hook first. So `file()` is wrapped when that hook meets its
 * first file entry (drop-paste.ts), before the page can hold any entry.
 */
export function hookFileEntries(entry: FileSystemEntry): void {
  if (entryPatched || !entry.isFile) return;
  entryPatched = true;
  const proto = Object.getPrototypeOf(entry) as FileSystemFileEntry;
  type FileMethod = (this: FileSystemFileEntry, success: FileCallback, error?: ErrorCallback) => void;
  replaceMethod<FileMethod>(proto, 'file', (original) =>
    ({
      file(this: FileSystemFileEntry, success: FileCallback, error?: ErrorCallback): void {
        const linked = entryFile.get(this);
        if (typeof success !== 'function' || (linked === undefined && !wantsUploads())) {
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

function forHandle(handle: FileSystemHandle, file: File): Promise<File> | File {
  if (!chosenHandles.has(handle) || !wantsUploads() || !isPhoto(file)) return file;
  const lastModified = n.fileLastModified(file);
  const size = n.blobSize(file);
  const cached = handleFile.get(handle);
  if (cached && cached.lastModified === lastModified && cached.size === size) return cached.file;
  const delivered = collect('file-handle', file);
  handleFile.set(handle, { lastModified, size, file: delivered });
  // A cancelled or failed read is not remembered: the next getFile() asks again.
  then(delivered, () => undefined, () => handleFile.delete(handle));
  return delivered;
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

/** Queues `file` into this task's batch. Rejects with an AbortError when the person cancels (like a closed picker). */
function collect(source: UploadSource, file: File): Promise<File> {
  return new n.Promise<File>((resolve, reject) => {
    if (!pending || pending.source !== source) {
      const batch: Pending = { source, files: [], settle: [] };
      pending = batch;
      n.setTimeout(() => flush(batch), 0);
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
      cloakFiles(batch.source, batch.files, null).files,
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
