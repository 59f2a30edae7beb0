/**
 * The one message protocol between the extension's contexts (background, offscreen document, popup, extension pages,
 * content scripts). Every message is declared once in `messages` below, namespaced by the context that handles it
 * (`'offscreen:status'` is answered by the offscreen document), with its payload type, its result type and who may
 * send it. Each context registers one handler map with `handleMessages<'target'>({...})`; TypeScript then insists
 * on a handler for every message of that target. Callers use `sendMessage(name, payload)`, typed end to end.
 *
 * On the wire: request `{faceCloak: 1, name, payload}`, reply `{ok: true, result}` or `{ok: false, error}`, so
 * errors cross contexts as errors instead of `undefined`. Chromium serialises messages as JSON: payloads and results
 * must be plain JSON data (no typed arrays, Blob, Map, Date, undefined inside arrays).
 */
import type { BackendName } from '../engine/backends/backends.ts';
import { type Settings, type SiteSettings, isSiteSettingsPatch } from './settings.ts';

/**
 * Who may send a message. `extension`: only the extension's own pages and workers (popup, offscreen, background,
 * engine-lab), checked against the sender's URL, which the browser sets and a page cannot forge. `content`: content
 * scripts too; such a handler must treat the payload as hostile (the page's renderer may be compromised) and derive
 * the site from `sender`, never from the payload.
 */
export type Access = 'extension' | 'content';

export interface MessageDef<P, R> {
  readonly access: Access;
  /** Runtime check of the payload, run before the handler; required for messages content scripts may send. */
  readonly validate?: (payload: unknown) => payload is P;
  /** Type-only fields: never set, they carry the payload and result types. */
  readonly payloadType?: P;
  readonly resultType?: R;
}

type AnyMessageDef = { readonly access: Access; readonly validate?: (payload: unknown) => boolean };

function fromExtension<P = void, R = void>(validate?: (payload: unknown) => payload is P): MessageDef<P, R> {
  return { access: 'extension', validate };
}

function fromContent<P, R>(validate: (payload: unknown) => payload is P): MessageDef<P, R> {
  return { access: 'content', validate };
}

const isNothing = (payload: unknown): payload is void => payload === undefined || payload === null;

export interface SetSiteSettingsPayload {
  site: string;
  patch: Partial<SiteSettings>;
}

export interface SiteSettingsReply {
  /** Null when the sender's page is not a site we can protect (e.g. an IP address). */
  site: string | null;
  settings: SiteSettings;
}

export interface EngineStatus {
  /** The tfjs backend the offscreen engine runs on. */
  backend: BackendName;
}

export const messages = {
  /** Everything, for the popup and options UI. */
  'background:getSettings': fromExtension<void, Settings>(),
  /** Changes one site's settings; returns the site's settings after the change. */
  'background:setSiteSettings': fromExtension<SetSiteSettingsPayload, SiteSettings>(
    (p): p is SetSiteSettingsPayload =>
      typeof p === 'object' && p !== null && typeof (p as SetSiteSettingsPayload).site === 'string' &&
      isSiteSettingsPatch((p as SetSiteSettingsPayload).patch),
  ),
  /** A content script asks for the settings of the page it runs in (the site comes from the sender). */
  'background:getSiteSettings': fromContent<void, SiteSettingsReply>(isNothing),
  /** Starts the engine if needed and says which backend it runs on. */
  'background:engineStatus': fromExtension<void, EngineStatus>(),
  /** Answered by the offscreen document once tfjs has picked its backend. */
  'offscreen:status': fromExtension<void, EngineStatus>(),
} satisfies Record<`${Target}:${string}`, AnyMessageDef>;

/** The contexts that answer messages; a message name starts with its target. */
export type Target = 'background' | 'offscreen' | 'popup' | 'content';
export type MessageName = keyof typeof messages;
export type MessagesOf<T extends Target> = Extract<MessageName, `${T}:${string}`>;
export type PayloadOf<N extends MessageName> = (typeof messages)[N] extends { payloadType?: infer P } ? P : never;
export type ResultOf<N extends MessageName> = (typeof messages)[N] extends { resultType?: infer R } ? R : never;

export type Sender = chrome.runtime.MessageSender;
export type Handler<N extends MessageName> = (
  payload: PayloadOf<N>,
  sender: Sender,
) => ResultOf<N> | Promise<ResultOf<N>>;
export type HandlerMap<T extends Target> = { [N in MessagesOf<T>]: Handler<N> };

interface Request {
  faceCloak: 1;
  name: string;
  payload?: unknown;
}

export type Reply<R = unknown> =
  | { ok: true; result: R }
  | { ok: false; error: { code: MessageErrorCode; message: string } };

export type MessageErrorCode =
  | 'forbidden' // the sender may not send this message
  | 'invalid-payload' // the payload failed the message's runtime check
  | 'handler-failed' // the handler threw; message carries its error
  | 'no-receiver' // no context answered (not open yet, or closed)
  | 'timeout'; // no answer within the caller's timeout

export class MessageError extends Error {
  readonly code: MessageErrorCode;
  constructor(code: MessageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MessageError';
    this.code = code;
  }
}

/** Which access level a sender has, or null when it is not this extension at all. */
export function senderAccess(sender: Sender): Access | null {
  if (sender.id !== chrome.runtime.id) return null;
  const base = chrome.runtime.getURL('');
  if (sender.url?.startsWith(base) || sender.origin === base.replace(/\/$/, '')) return 'extension';
  if (sender.tab) return 'content';
  return null;
}

function isRequest(message: unknown): message is Request {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as Request).faceCloak === 1 &&
    typeof (message as Request).name === 'string'
  );
}

/**
 * Registers this context's handlers; returns a function that removes them. Messages named for other contexts are
 * left for them (the listener returns false, so it never holds their reply channel open).
 */
export function handleMessages<T extends Target>(handlers: HandlerMap<T>): () => void {
  const table = handlers as unknown as Record<string, Handler<MessageName> | undefined>;
  const listener = (message: unknown, sender: Sender, sendResponse: (reply: Reply) => void): boolean => {
    if (!isRequest(message) || !Object.hasOwn(table, message.name) || !Object.hasOwn(messages, message.name)) {
      return false;
    }
    const name = message.name as MessageName;
    const definition: AnyMessageDef = messages[name];
    const handler = table[name]!;

    const access = senderAccess(sender);
    if (access === null || (definition.access === 'extension' && access !== 'extension')) {
      console.warn(`[face-cloak] refused '${name}' from ${sender.url ?? 'an unknown sender'}`);
      sendResponse(failure('forbidden', `'${name}' may only be sent by the extension's own pages`));
      return false;
    }
    if (definition.validate && !definition.validate(message.payload)) {
      sendResponse(failure('invalid-payload', `'${name}' got an invalid payload`));
      return false;
    }
    Promise.resolve()
      .then(() => handler(message.payload as never, sender))
      .then(
        (result) => sendResponse({ ok: true, result }),
        (error: unknown) => {
          console.error(`[face-cloak] '${name}' failed:`, error);
          sendResponse(failure('handler-failed', error instanceof Error ? error.message : String(error)));
        },
      );
    return true; // The reply comes asynchronously.
  };
  chrome.runtime.onMessage.addListener(listener);
  return () => chrome.runtime.onMessage.removeListener(listener);
}

function failure(code: MessageErrorCode, message: string): Reply<never> {
  return { ok: false, error: { code, message } };
}

export interface SendOptions {
  /** Reject with code 'timeout' when no reply arrives in time. Default: wait as long as the receiver holds on. */
  timeoutMs?: number;
}

type SendArgs<N extends MessageName> = [PayloadOf<N>] extends [void]
  ? [payload?: undefined, options?: SendOptions]
  : [payload: PayloadOf<N>, options?: SendOptions];

/** Sends a message to whichever context handles its target; resolves with the result or rejects with MessageError. */
export async function sendMessage<N extends MessageName>(
  name: N,
  ...[payload, options]: SendArgs<N>
): Promise<ResultOf<N>> {
  const request: Request = { faceCloak: 1, name, payload };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    if (options?.timeoutMs !== undefined) {
      timer = setTimeout(
        () => reject(new MessageError('timeout', `'${name}' got no reply within ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
    }
  });
  try {
    const reply = await Promise.race([deliver(name, request), timeout]);
    if (!reply.ok) throw new MessageError(reply.error.code, reply.error.message);
    return reply.result as ResultOf<N>;
  } finally {
    clearTimeout(timer);
  }
}

async function deliver(name: string, request: Request): Promise<Reply> {
  let reply: unknown;
  try {
    reply = await chrome.runtime.sendMessage(request);
  } catch (error) {
    // Chromium: "Could not establish connection. Receiving end does not exist." Firefox words it similarly.
    throw new MessageError('no-receiver', `'${name}': ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  // No context answered, or one closed the channel without replying (e.g. the document was closed meanwhile).
  if (typeof reply !== 'object' || reply === null || typeof (reply as Reply).ok !== 'boolean') {
    throw new MessageError('no-receiver', `'${name}': no context answered`);
  }
  return reply as Reply;
}
