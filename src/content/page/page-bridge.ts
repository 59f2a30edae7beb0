/**
 * MAIN-world end of the private channel to the isolated content script (see ../bridge-protocol.ts for the
 * handshake). The hooks ask `wantsUploads()` before touching an event and hand photos over with `cloak()`.
 */
import {
  type AnchorRect,
  type FileOutcome,
  HELLO_EVENT,
  type IsolatedMessage,
  PORT_EVENT,
  PROTOCOL,
  type PageMessage,
  type UploadSource,
  isIsolatedMessage,
} from '../bridge-protocol.ts';
import { natives as n } from './natives.ts';

/** The outcome per file sent, in order; null when the person cancelled. */
export type BatchResult = FileOutcome[] | null;

export interface Batch {
  id: number;
  result: Promise<BatchResult>;
}

let port: MessagePort | null = null;
/** null until the isolated script has reported this site's settings. */
let enabled: boolean | null = null;
let nextId = 1;
/** Batches waiting for their outcome, by id. A null-prototype record: the page can patch Map.prototype. */
const waiting: Record<number, (result: BatchResult) => void> = Object.create(null);

/**
 * Starts listening for the isolated script's port and announces this world. Runs at document_start, before any page
 * script, so the listener added here is the first on `window`.
 */
export function connectPageBridge(): void {
  const onPort = (event: Event): void => {
    const ports = n.messageEventPorts(event as MessageEvent);
    if (port || n.messageEventData(event as MessageEvent) !== PROTOCOL || ports.length !== 1) return;
    n.stopImmediatePropagation(event);
    n.preventDefault(event); // the acknowledgement the isolated script reads synchronously
    n.removeEventListener(window, PORT_EVENT, onPort, true);
    port = ports[0];
    port.onmessage = (message) => receive(n.messageEventData(message));
  };
  n.addEventListener(window, PORT_EVENT, onPort, true);
  n.dispatchEvent(window, new n.Event(HELLO_EVENT));
}

function receive(data: unknown): void {
  try {
    if (!isIsolatedMessage(data, n.File)) return;
    handle(data);
  } catch (error) {
    console.debug('[face-cloak] bad message from the isolated world:', error);
  }
}

function handle(message: IsolatedMessage): void {
  if (message.type === 'settings') {
    enabled = message.enabled;
    return;
  }
  const resolve = waiting[message.id];
  if (!resolve) return;
  delete waiting[message.id];
  resolve(message.type === 'done' ? message.outcomes : null);
}

/**
 * Whether the hooks should catch uploads now: the isolated script is connected and the site is not switched off.
 * While the settings are still unknown (the first milliseconds of a page) uploads are caught, and the isolated side
 * decides once it knows.
 */
export function wantsUploads(): boolean {
  return port !== null && enabled !== false;
}

export function cloak(source: UploadSource, files: File[], anchor: AnchorRect | null): Batch {
  const id = nextId++;
  const result = new n.Promise<BatchResult>((resolve, reject) => {
    if (!port) {
      reject(new Error('not connected'));
      return;
    }
    waiting[id] = resolve;
    send({ type: 'cloak', id, source, files, anchor });
  });
  return { id, result };
}

/** The page no longer needs batch `id`: the engine stops, its overlay goes, its promise resolves as cancelled. */
export function abort(id: number): void {
  const resolve = waiting[id];
  if (!resolve) return;
  delete waiting[id];
  send({ type: 'abort', id });
  resolve(null);
}

function send(message: PageMessage): void {
  if (port) n.portPostMessage(port, message);
}
