/**
 * `<input type=file>`: when the person picks files, the browser sets `input.files` and fires `input` (bubbles,
 * composed) then `change` (bubbles, not composed) in one task. We catch whichever reaches us first, stop both before
 * any page listener runs, empty `input.files` while the photos are cloaked (so nothing reads the originals in the
 * meantime), then set the cloaked files and fire `input` and `change` again the way the browser does.
 *
 * Where the events can be caught first:
 * - inputs in the document or in open shadow roots: a capture listener on `window`, added before any page script;
 * - inputs in closed shadow roots: `input` is composed, so it reaches `window` first, retargeted to the root's host
 *   (composedPath() hides the root's inside from a listener outside it). The window listener looks inside the roots
 *   we know (attachShadow is wrapped, shadow-roots.ts) for the one file input that holds a new selection with photos
 *   (files neither we nor the page, through `input.files = ...`, put there: the `files` setter is wrapped only to
 *   note that), and takes the event there, before the page's own window and document capture listeners. `change`
 *   never leaves the root: a capture listener on each root takes it, and takes `input` too when the window listener
 *   could not tell which input it was (two inputs in one root holding new photos at once);
 * - inputs never attached to the document (X creates one, clicks it, and listens on the element): a capture
 *   listener on the input itself, added when the page calls `click()` or `showPicker()`. At the target, capture
 *   listeners run before the page's bubbling ones.
 */
import { replaceMethod, replaceSetter } from './disguise.ts';
import { anchorFor, cloakFiles, abortRun, emptyFileList, fileListOf, fileListToArray, hasPhoto } from './files.ts';
import { SafeWeakMap, natives as n, then } from './natives.ts';
import { wantsUploads } from './page-bridge.ts';
import { hookShadowRoots, shadowRootOf } from './shadow-roots.ts';

const listening = new SafeWeakMap<EventTarget, true>();
/** Inputs whose cloaking is under way, with the run's id: a newer selection on the same input replaces it. */
const running = new SafeWeakMap<HTMLInputElement, number>();
/** Inputs whose trusted `input` event we took; the `change` of the same selection follows in the same task. */
const changeFollows = new SafeWeakMap<HTMLInputElement, true>();
/** Inputs -> the FileList we last handed to the page through them: not a new selection. */
const handedOver = new SafeWeakMap<HTMLInputElement, FileList>();
/** FileLists the page assigned to an input itself (`input.files = ...`): not a selection the person just made. */
const assignedByPage = new SafeWeakMap<FileList, true>();

export function hookFileInputs(): void {
  listen(window);
  hookShadowRoots(listen);
  // Only to tell the person's selections from the page's own assignments (see newSelectionInside); the assignment
  // itself is the native one, unchanged.
  replaceSetter<FileList | null>(n.HTMLInputElement.prototype, 'files', (original) => {
    const setter = n.getOwnPropertyDescriptor(
      {
        set files(value: FileList | null) {
          n.apply(original, this, [value]);
          try {
            if (isFileInput(this)) {
              const list = n.inputFiles(this);
              if (list) assignedByPage.set(list, true);
            }
          } catch {
            // Never let the hook change what the assignment does.
          }
        },
      },
      'files',
    )!.set!;
    return setter as (this: unknown, value: FileList | null) => void;
  });
  // click() is inherited from HTMLElement; showPicker() is the input's own.
  for (const [proto, name] of [
    [HTMLElement.prototype, 'click'],
    [n.HTMLInputElement.prototype, 'showPicker'],
  ] as const) {
    replaceMethod<(this: HTMLElement, ...args: unknown[]) => unknown>(
      proto,
      name,
      (original) =>
        ({
          [name](this: HTMLElement, ...args: unknown[]): unknown {
            try {
              if (this instanceof n.HTMLInputElement && n.inputType(this) === 'file') listen(this);
            } catch {
              // Never let the hook change what the page's call does.
            }
            return n.apply(original, this, args);
          },
        })[name],
    );
  }
}

function listen(target: EventTarget): void {
  if (listening.has(target)) return;
  listening.set(target, true);
  n.addEventListener(target, 'input', onSelection, true);
  n.addEventListener(target, 'change', onSelection, true);
}

function isFileInput(target: unknown): target is HTMLInputElement {
  return target instanceof n.HTMLInputElement && n.inputType(target) === 'file';
}

function fileInputOf(event: Event): HTMLInputElement | null {
  const target = n.composedPath(event)[0];
  if (isFileInput(target)) return target;
  // A file input's `input` is a plain Event (typing gives an InputEvent): seen from outside a closed shadow root,
  // its target is the root's host.
  if (target instanceof n.Element && n.eventType(event) === 'input' && !(event instanceof n.InputEvent)) {
    return newSelectionInside(target);
  }
  return null;
}

/**
 * The file input inside `host`'s shadow root (or roots nested in it) that holds a selection with photos we have not
 * handed over ourselves: the input whose `input` event this is. Null when there is none, or more than one (then the
 * root's own listener takes the event, as the input is its target there).
 */
function newSelectionInside(host: Element): HTMLInputElement | null {
  let found: HTMLInputElement | null = null;
  let ambiguous = false;
  const visit = (root: ShadowRoot, depth: number): void => {
    const all = n.fragmentQuerySelectorAll(root, '*');
    const count = n.nodeListLength(all);
    for (let i = 0; i < count && !ambiguous; i++) {
      const element = n.nodeListItem(all, i) as Element;
      if (isFileInput(element)) {
        const files = n.inputFiles(element);
        if (!files || handedOver.get(element) === files || assignedByPage.has(files) || !hasPhoto(fileListToArray(files))) continue;
        if (found) ambiguous = true;
        else found = element;
        continue;
      }
      const inner = depth < 8 ? shadowRootOf(element) : undefined;
      if (inner) visit(inner, depth + 1);
    }
  };
  const root = shadowRootOf(host);
  if (root) visit(root, 0);
  return ambiguous ? null : found;
}

function onSelection(event: Event): void {
  try {
    // Our own re-dispatched events are untrusted, and so are the page's when it moves files it already has.
    if (!event.isTrusted || !wantsUploads()) return;
    // Null when the input sits in a closed shadow root seen from outside: the root's own listener handles it.
    const input = fileInputOf(event);
    if (!input) return;
    const type = n.eventType(event);
    if (type === 'change' && changeFollows.has(input)) {
      changeFollows.delete(input);
      n.stopImmediatePropagation(event);
      return;
    }
    const files = fileListToArray(n.inputFiles(input));
    if (!hasPhoto(files)) return;
    n.stopImmediatePropagation(event);
    if (type === 'input') {
      changeFollows.set(input, true);
      // `change` comes in this same task; if it never does, forget it so a later selection is not swallowed.
      n.setTimeout(() => changeFollows.delete(input), 0);
    }
    const previous = running.get(input);
    if (previous !== undefined) abortRun(previous);
    n.setInputFiles(input, emptyFileList());

    const run = cloakFiles('input', files, anchorFor(input));
    running.set(input, run.id);
    then(
      run.files,
      (delivered) => {
        if (running.get(input) !== run.id) return; // a newer selection replaced this one
        running.delete(input);
        if (delivered === null) {
          // As if the person had closed the picker: the browser fires `cancel` (bubbles) on the input.
          n.dispatchEvent(input, new n.Event('cancel', { bubbles: true }));
          return;
        }
        n.setInputFiles(input, fileListOf(delivered));
        const given = n.inputFiles(input);
        if (given) handedOver.set(input, given);
        n.dispatchEvent(input, new n.Event('input', { bubbles: true, composed: true }));
        n.dispatchEvent(input, new n.Event('change', { bubbles: true }));
      },
      (error) => {
        running.delete(input);
        console.debug('[face-cloak] file input:', error);
      },
    );
  } catch (error) {
    console.debug('[face-cloak] file input hook:', error);
  }
}
