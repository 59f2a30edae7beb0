/**
 * The small panel shown while photos are cloaked: "Protecting 2 of 5 photos…", a progress bar and Cancel; on a
 * failure, why, and the person's choice: Retry, Upload original, or Cancel. It lives in a closed shadow root on a
 * host element under <html>, styled from scratch, so neither the page's CSS nor its scripts reach inside (tests
 * reach it through CDP, as DevTools does). It is placed next to the upload control when the page world knows where
 * that is, else in the bottom-right corner.
 */
import type { AnchorRect } from './bridge-protocol.ts';

export type FailureChoice = 'retry' | 'original' | 'cancel';

export interface Overlay {
  /** `fraction` of the whole batch done, 0..1; `detail` says what the engine is doing. */
  progress(text: string, fraction: number, detail: string): void;
  /** Shows why the photo could not be protected and waits for the person's choice. */
  ask(text: string, reason: string): Promise<FailureChoice>;
  /** Shows a last message, then removes the panel. */
  finish(text: string): void;
  close(): void;
}

const PANEL_WIDTH = 280;
const FINISH_MS = 1800;

const css = `
:host { all: initial; }
.panel {
  position: fixed; box-sizing: border-box; width: ${PANEL_WIDTH}px; padding: 10px 12px;
  font: 13px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #f4f6fb;
  background: #1d2230; border: 1px solid #394157; border-radius: 10px; box-shadow: 0 6px 24px rgba(0,0,0,.35);
  pointer-events: auto;
}
.corner { position: fixed; right: 16px; bottom: 16px; display: flex; flex-direction: column; gap: 8px; }
.corner .panel { position: static; }
.title { font-weight: 600; margin: 0 0 2px; }
.detail { color: #b9c0d4; font-size: 12px; margin: 0 0 8px; min-height: 1.35em; overflow-wrap: anywhere; }
.bar { height: 4px; border-radius: 2px; background: #394157; overflow: hidden; }
.bar > div { height: 100%; width: 0; background: #6ea8ff; transition: width .2s; }
.buttons { display: flex; gap: 6px; justify-content: flex-end; margin-top: 8px; flex-wrap: wrap; }
button {
  font: inherit; font-size: 12px; color: #f4f6fb; background: #2d3446; border: 1px solid #4a5470; border-radius: 6px;
  padding: 3px 10px; cursor: pointer;
}
button:hover { background: #3a4360; }
button.primary { background: #3d6fd6; border-color: #3d6fd6; }
button:focus-visible { outline: 2px solid #6ea8ff; outline-offset: 1px; }
[hidden] { display: none !important; }
`;

let root: ShadowRoot | null = null;
let host: HTMLElement | null = null;
let corner: HTMLElement | null = null;

/** The shared shadow root, re-attached if the page removed the host (some frameworks own the whole document). */
function overlayRoot(): ShadowRoot {
  if (!host || !root) {
    host = document.createElement('div');
    host.style.cssText = 'all: initial; position: fixed; left: 0; top: 0; width: 0; height: 0; z-index: 2147483647;';
    root = host.attachShadow({ mode: 'closed' });
    const style = document.createElement('style');
    style.textContent = css;
    corner = document.createElement('div');
    corner.className = 'corner';
    root.append(style, corner);
  }
  if (!host.isConnected) (document.documentElement ?? document).appendChild(host);
  return root;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, testId?: string) {
  const node = Object.assign(document.createElement(tag), props);
  if (testId) node.setAttribute('data-testid', testId);
  return node;
}

export function showOverlay(anchor: AnchorRect | null, onCancel: () => void): Overlay {
  const shadow = overlayRoot();
  const panel = element('div', { className: 'panel' }, 'face-cloak-overlay');
  panel.setAttribute('role', 'status');
  panel.setAttribute('aria-live', 'polite');
  const title = element('p', { className: 'title' }, 'face-cloak-status');
  const detail = element('p', { className: 'detail' }, 'face-cloak-detail');
  const bar = element('div', { className: 'bar' });
  bar.setAttribute('role', 'progressbar');
  bar.setAttribute('aria-valuemin', '0');
  bar.setAttribute('aria-valuemax', '100');
  const fill = element('div');
  bar.append(fill);
  const buttons = element('div', { className: 'buttons' });
  const retry = element('button', { type: 'button', textContent: 'Retry', hidden: true }, 'face-cloak-retry');
  const original = element('button', { type: 'button', textContent: 'Upload original', hidden: true }, 'face-cloak-original');
  const cancel = element('button', { type: 'button', textContent: 'Cancel' }, 'face-cloak-cancel');
  buttons.append(retry, original, cancel);
  panel.append(title, detail, bar, buttons);

  if (anchor) {
    const width = document.documentElement?.clientWidth || innerWidth;
    const height = document.documentElement?.clientHeight || innerHeight;
    const left = Math.min(Math.max(8, anchor.x), Math.max(8, width - PANEL_WIDTH - 8));
    const below = anchor.y + anchor.height + 8;
    const top = below + 120 <= height ? below : Math.max(8, anchor.y - 128);
    panel.style.left = `${left}px`;
    panel.style.top = `${Math.min(top, Math.max(8, height - 128))}px`;
    shadow.append(panel);
  } else {
    corner!.append(panel);
  }

  let choose: ((choice: FailureChoice) => void) | null = null;
  let closed = false;
  cancel.addEventListener('click', () => {
    if (choose) choose('cancel');
    else onCancel();
  });
  retry.addEventListener('click', () => choose?.('retry'));
  original.addEventListener('click', () => choose?.('original'));

  const close = () => {
    if (closed) return;
    closed = true;
    panel.remove();
  };
  return {
    progress(text, fraction, what) {
      title.textContent = text;
      detail.textContent = what;
      const percent = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
      fill.style.width = `${percent}%`;
      bar.setAttribute('aria-valuenow', String(percent));
    },
    ask(text, reason) {
      panel.setAttribute('role', 'alertdialog');
      title.textContent = text;
      detail.textContent = reason;
      bar.hidden = true;
      retry.hidden = false;
      original.hidden = false;
      retry.className = 'primary';
      retry.focus({ preventScroll: true });
      return new Promise<FailureChoice>((resolve) => {
        choose = (choice) => {
          choose = null;
          panel.setAttribute('role', 'status');
          bar.hidden = false;
          retry.hidden = true;
          original.hidden = true;
          resolve(choice);
        };
      });
    },
    finish(text) {
      title.textContent = text;
      detail.textContent = '';
      fill.style.width = '100%';
      buttons.hidden = true;
      setTimeout(close, FINISH_MS);
    },
    close,
  };
}
