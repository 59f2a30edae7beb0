/**
 * The background's side of a port an extension page or content script opened to send a file (cloaking, learning a
 * personal mask): posting that survives a client that left, refusing (an error, then disconnect, which aborts the
 * work), a deadline for the first message, and the chunks the client sent, taken in order as the offscreen document
 * is ready for them.
 */
import type { CloakFailure } from '../shared/messages.ts';

type ErrorMessage = { type: 'error'; failure: CloakFailure };

export class ClientPort<Out extends { type: string }> {
  private readonly abort = new AbortController();
  /** Aborted when the client leaves or is refused: work for it stops. */
  readonly signal = this.abort.signal;
  private readonly pending: string[] = [];
  private wake: (() => void) | null = null;
  private readonly startTimer: ReturnType<typeof setTimeout>;

  constructor(private readonly port: chrome.runtime.Port, startTimeoutMs: number) {
    this.startTimer = setTimeout(() => this.refuse('No request arrived.'), startTimeoutMs);
    port.onDisconnect.addListener(() => {
      clearTimeout(this.startTimer);
      this.abort.abort(new DOMException('The requester left', 'AbortError'));
      this.wake?.();
    });
  }

  /** The request arrived: the start deadline no longer applies. */
  started(): void {
    clearTimeout(this.startTimer);
  }

  /** False when the client has left meanwhile. */
  post(message: Out | ErrorMessage): boolean {
    try {
      this.port.postMessage(message);
      return true;
    } catch {
      return false;
    }
  }

  refuse(message: string): void {
    this.post({ type: 'error', failure: { code: 'refused', message } });
    // Our own disconnect() does not fire our onDisconnect: abort here, so work in flight is released.
    this.abort.abort(new DOMException(message, 'AbortError'));
    this.port.disconnect();
  }

  /** A chunk the client sent, for next(). */
  push(data: string): void {
    this.pending.push(data);
    this.wake?.();
  }

  /** Chunks received and not taken yet. */
  get queued(): number {
    return this.pending.length;
  }

  /** The next chunk, waiting for it; rejects once the client left or was refused. */
  async next(): Promise<string> {
    while (this.pending.length === 0) {
      this.signal.throwIfAborted();
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
    return this.pending.shift()!;
  }
}
