/**
 * Lifecycle of the offscreen document, where tfjs runs (a service worker has no DOM, canvas or WebGL).
 * `use(task)` creates the document if needed, runs the task, and closes the document once no task has needed it for
 * IDLE_CLOSE_MS: the models take hundreds of MB that should not stay resident between uploads.
 *
 * Per-browser seam (as in uBlock Origin Lite): Chromium has chrome.offscreen; Firefox has no offscreen API, but its
 * background is an event page with a DOM, so the same offscreen.html runs there in a hidden iframe and answers the
 * same messages. `__BROWSER__` is a build-time constant, so each bundle contains only its own seam.
 */

const OFFSCREEN_PATH = 'offscreen.html';

/**
 * Shorter than the service worker's 30 s idle timeout on purpose: every use ends with a message reply, which restarts
 * that timeout, so the close timer fires before Chromium can stop the worker and lose the timer with it.
 */
export const IDLE_CLOSE_MS = 25_000;

interface DocumentSeam {
  exists(): Promise<boolean>;
  /**
   * Resolves once the document's scripts ran, i.e. its message handlers are registered. `exists()` may turn true
   * before that.
   */
  create(): Promise<void>;
  close(): Promise<void>;
}

const chromiumSeam: DocumentSeam = {
  async exists() {
    const contexts = await chrome.runtime.getContexts({
      contextTypes: ['OFFSCREEN_DOCUMENT'],
      documentUrls: [chrome.runtime.getURL(OFFSCREEN_PATH)],
    });
    return contexts.length > 0;
  },
  async create() {
    try {
      await chrome.offscreen.createDocument({
        url: OFFSCREEN_PATH,
        reasons: ['BLOBS'],
        justification:
          'Runs the face-cloaking model (TensorFlow.js on WebGPU, WebGL or WebAssembly) on image blobs the user ' +
          'uploads; a service worker has no DOM, canvas or WebGL.',
      });
    } catch (error) {
      // Two callers can both see "no document" and both create: the loser gets this error, and the document exists.
      if (/single offscreen document/i.test(String(error))) return;
      throw error;
    }
  },
  async close() {
    try {
      await chrome.offscreen.closeDocument();
    } catch (error) {
      if (/no current offscreen document/i.test(String(error))) return; // Already closed.
      throw error;
    }
  },
};

const firefoxSeam: DocumentSeam = {
  async exists() {
    return findFrame() !== null;
  },
  create() {
    return new Promise((resolve, reject) => {
      const frame = document.createElement('iframe');
      frame.src = chrome.runtime.getURL(OFFSCREEN_PATH);
      frame.addEventListener('load', () => resolve(), { once: true });
      frame.addEventListener('error', () => reject(new Error(`${OFFSCREEN_PATH} failed to load`)), { once: true });
      document.body.append(frame);
    });
  },
  async close() {
    findFrame()?.remove();
  },
};

function findFrame(): HTMLIFrameElement | null {
  return document.querySelector(`iframe[src="${chrome.runtime.getURL(OFFSCREEN_PATH)}"]`);
}

export class OffscreenHost {
  private users = 0;
  private creating: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly seam: DocumentSeam = __BROWSER__ === 'firefox' ? firefoxSeam : chromiumSeam,
    private readonly idleMs = IDLE_CLOSE_MS,
  ) {}

  /** Runs `task` while the offscreen document is open; the document stays open until every task has finished. */
  async use<T>(task: () => Promise<T>): Promise<T> {
    this.users += 1;
    clearTimeout(this.idleTimer);
    try {
      await this.ensureDocument();
      return await task();
    } finally {
      this.users -= 1;
      if (this.users === 0) this.idleTimer = setTimeout(() => void this.closeIfIdle(), this.idleMs);
    }
  }

  /**
   * Call once at worker start. A document left open by an earlier instance of this worker (stopped mid-job, or
   * between a use and its idle close) has nobody counting its users any more: give it the idle close it would have
   * had. A new use() before then cancels the close as usual.
   */
  async adoptLeftover(): Promise<void> {
    if (this.users === 0 && (await this.seam.exists()) && this.users === 0) {
      clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => void this.closeIfIdle(), this.idleMs);
    }
  }

  private async ensureDocument(): Promise<void> {
    await this.closing; // A close in flight would take the document away under us.
    // Chromium lists the document (getContexts) as soon as creation starts, before its scripts have registered their
    // message handlers: a use() arriving then (the popup's status request, then an upload) must wait for creation
    // too, or its first message finds no receiver.
    if (this.creating) return this.creating;
    if (await this.seam.exists()) return;
    this.creating ??= this.seam.create().finally(() => {
      this.creating = null;
    });
    await this.creating;
  }

  private async closeIfIdle(): Promise<void> {
    if (this.users > 0 || this.closing) return;
    this.closing = this.seam
      .close()
      .catch((error: unknown) => console.warn('[face-cloak] closing the offscreen document failed:', error))
      .finally(() => {
        this.closing = null;
      });
    await this.closing;
  }
}
