/**
 * Drag-and-drop and paste. A trusted `drop` or `paste` carrying photos is stopped at `window` in the capture phase,
 * before any page listener (ours is the first listener on `window`), and its default action prevented (a file
 * dropped on a page would otherwise be opened in the tab). Its files are read while the DataTransfer is still
 * readable (it is locked once the event is over), with their file system entries and handles. Once cloaked, the
 * event is fired again on the same innermost target:
 * - drop: `dragover` then `drop`, with the original coordinates, buttons and modifier keys, and a DataTransfer holding
 *   the cloaked files and the drag's text parts (text/uri-list...); widgets that check that a `dragover` preceded
 *   the drop see one. On cancel, `dragleave` resets widgets that were showing "drop here".
 * - paste: a `paste` with the cloaked files and the clipboard's text parts. If no page listener takes it
 *   (`preventDefault`), the text is inserted as the browser would have, since a synthetic paste has no default action.
 */
import {
  type TextPart,
  anchorFor,
  cloakFiles,
  dataTransferOf,
  fileListOf,
  hasPhoto,
  noteInteraction,
  rectOf,
  textParts,
} from './files.ts';
import { hookEntries, linkItem } from './file-system.ts';
import { natives as n, then } from './natives.ts';
import { wantsUploads } from './page-bridge.ts';
import { innermostTarget } from './shadow-roots.ts';

interface DroppedFile {
  file: File;
  entry: FileSystemEntry | null;
  handle: Promise<FileSystemHandle | null> | null;
}

export function hookDropAndPaste(): void {
  n.addEventListener(window, 'drop', onDrop, true);
  n.addEventListener(window, 'paste', onPaste, true);
}

function readDropped(dt: DataTransfer): DroppedFile[] {
  const dropped: DroppedFile[] = [];
  const items = n.dataTransferItems(dt);
  const count = n.itemListLength(items);
  for (let i = 0; i < count; i++) {
    const item = items[i];
    if (n.itemKind(item) !== 'file') continue;
    const file = n.itemGetAsFile(item);
    if (!file) continue;
    let entry: FileSystemEntry | null = null;
    let handle: Promise<FileSystemHandle | null> | null = null;
    // Both must be asked for now: after the event the DataTransfer no longer gives them out.
    try {
      entry = n.itemWebkitGetAsEntry ? n.itemWebkitGetAsEntry(item) : null;
      // Folders too: their files are read later through the entry API, whose prototypes must be patched first.
      if (entry) hookEntries(entry);
    } catch {
      entry = null;
    }
    try {
      handle = n.itemGetAsFileSystemHandle ? n.itemGetAsFileSystemHandle(item) : null;
      if (handle) then(handle, () => undefined, () => undefined); // never an unhandled rejection in the page
    } catch {
      handle = null;
    }
    dropped[dropped.length] = { file, entry, handle };
  }
  return dropped;
}

function onDrop(event: Event): void {
  try {
    if (!event.isTrusted || !wantsUploads()) return;
    const drag = event as DragEvent;
    const dt = n.dragEventDataTransfer(drag);
    if (!dt) return;
    const dropped = readDropped(dt);
    const files: File[] = [];
    for (let i = 0; i < dropped.length; i++) files[i] = dropped[i].file;
    const x = drag.clientX;
    const y = drag.clientY;
    const target = innermostTarget(event, (root) => n.shadowRootElementFromPoint(root, x, y));
    const anchor = rectOf(target) ?? { x: x - 1, y: y - 1, width: 2, height: 2 };
    // A drop without photos of its own (folders only, or documents) passes as it is; photos the page then reads out of
    // its folders come through the file system hooks (file-system.ts), whose overlay appears where this drop landed.
    noteInteraction(anchor);
    if (!hasPhoto(files)) return;
    n.preventDefault(event);
    n.stopImmediatePropagation(event);

    const init: DragEventInit = {
      bubbles: true,
      cancelable: true,
      composed: true,
      view: window,
      detail: drag.detail,
      screenX: drag.screenX,
      screenY: drag.screenY,
      clientX: x,
      clientY: y,
      ctrlKey: drag.ctrlKey,
      shiftKey: drag.shiftKey,
      altKey: drag.altKey,
      metaKey: drag.metaKey,
      button: drag.button,
      buttons: drag.buttons,
    };
    const text = textParts(dt);
    const effectAllowed = n.effectAllowed(dt);
    const dropEffect = n.dropEffect(dt);

    then(cloakFiles('drop', files, anchor).files, (delivered) => {
      const at = deliveryTarget(target, x, y);
      if (delivered === null) {
        n.dispatchEvent(at, new n.DragEvent('dragleave', { ...init, cancelable: false, dataTransfer: dataTransferOf([], text) }));
        return;
      }
      const out = buildDropTransfer(delivered, dropped, text);
      try {
        n.setEffectAllowed(out, effectAllowed);
        n.setDropEffect(out, dropEffect);
      } catch {
        // Keep the defaults when the drag's values are not settable.
      }
      n.dispatchEvent(at, new n.DragEvent('dragover', { ...init, dataTransfer: out }));
      const notCancelled = n.dispatchEvent(at, new n.DragEvent('drop', { ...init, dataTransfer: out }));
      if (notCancelled) dropOnFileInput(at, delivered);
    }, (error) => console.debug('[face-cloak] drop:', error));
  } catch (error) {
    console.debug('[face-cloak] drop hook:', error);
  }
}

/**
 * The browser's default action for a drop on a file input (a transparent input over a "drop here" area is a common
 * uploader pattern): the input takes the files (only the first unless `multiple`) and fires `input` and `change`.
 * Our re-dispatched drop is untrusted and has no default action, so it is done here when no page listener cancelled
 * the drop.
 */
function dropOnFileInput(at: EventTarget, delivered: File[]): void {
  if (!(at instanceof n.HTMLInputElement) || n.inputType(at) !== 'file' || n.inputDisabled(at) || delivered.length === 0) return;
  n.setInputFiles(at, fileListOf(n.inputMultiple(at) ? delivered : [delivered[0]]));
  n.dispatchEvent(at, new n.Event('input', { bubbles: true, composed: true }));
  n.dispatchEvent(at, new n.Event('change', { bubbles: true }));
}

/** Like `dataTransferOf`, with each photo's item answering with the dropped entry and handle. */
function buildDropTransfer(delivered: File[], dropped: DroppedFile[], text: TextPart[]): DataTransfer {
  const out = dataTransferOf([], text);
  const items = n.dataTransferItems(out);
  for (let i = 0; i < delivered.length; i++) {
    n.itemListAdd(items, delivered[i]);
    const { file, entry, handle } = dropped[i];
    if (entry || handle) linkItem(delivered[i], file, entry, handle);
  }
  return out;
}

/** The original target while it is still in the document; else whatever is under the drop point now. */
function deliveryTarget(target: EventTarget | null, x: number, y: number): EventTarget {
  if (target instanceof Node && n.isConnected(target)) return target;
  return n.documentElementFromPoint(document, x, y) ?? document.body ?? document.documentElement;
}

function onPaste(event: Event): void {
  try {
    if (!event.isTrusted || !wantsUploads()) return;
    const clipboard = n.clipboardEventData(event as ClipboardEvent);
    if (!clipboard) return;
    const files: File[] = [];
    const dropped = readDropped(clipboard);
    for (let i = 0; i < dropped.length; i++) files[i] = dropped[i].file;
    if (!hasPhoto(files)) return;
    n.preventDefault(event);
    n.stopImmediatePropagation(event);

    const target = innermostTarget(event, (root) => n.shadowRootActiveElement(root));
    const text = textParts(clipboard);
    then(cloakFiles('paste', files, anchorFor(target)).files, (delivered) => {
      if (delivered === null) return; // cancelled: nothing is pasted, as when a paste is refused
      const at = target instanceof Node && n.isConnected(target) ? target : n.activeElement(document) ?? document.body;
      if (!at) return;
      const paste = new n.ClipboardEvent('paste', {
        bubbles: true,
        cancelable: true,
        composed: true,
        clipboardData: dataTransferOf(delivered, text),
      });
      n.dispatchEvent(at, paste);
      if (!n.defaultPrevented(paste)) insertText(text);
    }, (error) => console.debug('[face-cloak] paste:', error));
  } catch (error) {
    console.debug('[face-cloak] paste hook:', error);
  }
}

/** What the browser's own paste would have inserted into the focused editable element: the text parts. */
function insertText(text: TextPart[]): void {
  let plain: string | null = null;
  let html: string | null = null;
  for (let i = 0; i < text.length; i++) {
    if (text[i].type === 'text/plain') plain = text[i].data;
    if (text[i].type === 'text/html') html = text[i].data;
  }
  const focused = n.activeElement(document);
  const richText = focused instanceof HTMLElement && focused.isContentEditable;
  if (richText && html) n.execCommand(document, 'insertHTML', false, html);
  else if (plain) n.execCommand(document, 'insertText', false, plain);
}
