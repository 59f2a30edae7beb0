/**
 * `<input type=file>`: when the person picks files, the browser sets `input.files` and fires `input` (bubbles,
 * composed) then `change` (bubbles, not composed) in one task. We catch whichever reaches us first, stop both before
 * any page listener runs, empty `input.files` while the photos are cloaked (so nothing reads the originals in the
 * meantime), then set the cloaked files and fire `input` and `change` again the way the browser does.
 *
 * Where the events can be caught first:
 * - inputs in the document or in open shadow roots: a capture listener on `window`, added before any page script;
 * - inputs in closed shadow roots (`change` never leaves the root): a capture listener on each root
 *   (shadow-roots.ts), which the page cannot have listened on before us;
 * - inputs never attached to the document (X creates one, clicks it, and listens on the element): a capture
 *   listener on the input itself, added when the page calls `click()` or `showPicker()`. At the target, capture
 *   listeners run before the page's bubbling ones.
 */
import { replaceMethod } from './disguise.ts';
import { anchorFor, cloakFiles, abortRun, emptyFileList, fileListOf, fileListToArray, hasPhoto } from './files.ts';
import { SafeWeakMap, natives as n, then } from './natives.ts';
import { wantsUploads } from './page-bridge.ts';
import { hookShadowRoots } from './shadow-roots.ts';

const listening = new SafeWeakMap<EventTarget, true>();
/** Inputs whose cloaking is under way, with the run's id: a newer selection on the same input replaces it. */
const running = new SafeWeakMap<HTMLInputElement, number>();
/** Inputs whose trusted `input` event we took; the `change` of the same selection follows in the same task. */
const changeFollows = new SafeWeakMap<HTMLInputElement, true>();

export function hookFileInputs(): void {
  listen(window);
  hookShadowRoots(listen);
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

function fileInputOf(event: Event): HTMLInputElement | null {
  const target = n.composedPath(event)[0];
  return target instanceof n.HTMLInputElement && n.inputType(target) === 'file' ? target : null;
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
