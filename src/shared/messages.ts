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
import type { PersonalMask } from '../engine/cloak/personal-mask-format.ts';
import type { ImageErrorCode, ImageFormat } from '../engine/image/types.ts';
import type { PersonalMaskInfo } from './personal-mask.ts';
import { type CloakOrigin, type RecentCloak, type RecentCloakEstimate, isRecentCloak, isRecentCloakEstimate } from './recent-cloaks.ts';
import {
  type FailureChoice,
  type GeneralSettings,
  STRENGTHS,
  type Settings,
  type SiteSettings,
  type Strength,
  isGeneralSettingsPatch,
  isSiteSettingsPatch,
  siteKeyForHost,
} from './settings.ts';

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

export interface ProtectImageRequest {
  tabId: number;
  /** The frame showing the image (0: the top frame). */
  frameId: number;
  srcUrl: string;
}

/**
 * "Protect image" reads the image in its page, then opens the protect page (protect.html?image=<handoff>), which
 * takes the bytes with 'background:takeImageHandoff' and cloaks them itself, showing progress, the before/after
 * comparison and the protection estimate. `tabId`: the protect page's tab. When the image cannot be read, the
 * protect page opens anyway and says why (protect.html?failed=<reason>), and so does the result.
 */
export type ProtectImageResult =
  | { status: 'opened'; tabId: number; handoff: string }
  | { status: 'failed'; code: 'unreadable'; message: string; tabId?: number };

/** The protect page asks for a piece of the image "Protect image" handed it. */
export interface ImageHandoffRequest {
  /** The `image` parameter of protect.html's URL. */
  id: string;
  /** Byte offset of the piece wanted; pieces are at most CLOAK_CHUNK_BYTES. */
  offset: number;
}

export interface ImageHandoffChunk {
  /** A file name for the image, from its URL (`beach day.jpg`), with the extension of its real format. */
  name: string;
  /** MIME type sniffed from the bytes ('' when unknown: the engine decides). */
  mime: string;
  /** Total bytes of the image. */
  size: number;
  /** The strength of the site the image was shown on. */
  strength: Strength;
  /** Settings key of that site, when it has one. */
  site: string | null;
  /** Base64 of the bytes from `offset`, at most CLOAK_CHUNK_BYTES of them. */
  data: string;
}

export interface EngineStatus {
  /** The tfjs backend the offscreen engine runs on. */
  backend: BackendName;
  /** Live tfjs tensors in the offscreen document: flat between cloak jobs, or something leaks (tests read it). */
  tensors?: number;
  /** Whether the cloak engine's models are loaded (they load at the first cloak job, then stay while it is open). */
  engineLoaded?: boolean;
  /** Ids (models/manifest.json) of the models loaded now: detector, ensemble, and held-out judges once estimated. */
  models?: string[];
  /** Protection estimates waiting or running (they run after cloaks, when none waits). */
  estimatesPending?: number;
}

export interface UploadPolicy {
  /** Settings' `cloakTimeoutSeconds`. */
  cloakTimeoutSeconds: number;
  /** Settings' `onCloakFailure`: ask the person, or upload the original, or cancel, when cloaking fails. */
  onCloakFailure: FailureChoice;
}

export interface RecordEstimatePayload {
  id: string;
  estimate: RecentCloakEstimate;
}

// ---------------------------------------------------------------------------------------------------------------
// Cloaking a file (issue 4). A content script opens one runtime Port per file (CLOAK_PORT_NAME) and talks the
// CloakClientMessage / CloakServiceMessage protocol below with the background; the background drives the offscreen
// document with the 'offscreen:cloak*' messages and forwards its progress. Why a Port and not sendMessage: the port
// is bound to the sender's tab and frame by the browser (a tab only ever receives its own results), its disconnect
// is the cancel signal, and its messages keep the service worker alive (Chrome 114+) through a minutes-long cloak.
// Bytes travel as base64 in CLOAK_CHUNK_BYTES pieces: messages are JSON, limited to 64 MiB in Chromium.
// ---------------------------------------------------------------------------------------------------------------

export const CLOAK_PORT_NAME = 'face-cloak:cloak';

/** Largest file the cloak service accepts. A 50-megapixel JPEG is ~25 MB; bigger files are refused as too large. */
export const MAX_CLOAK_FILE_BYTES = 48 * 1024 * 1024;

/** Raw bytes per chunk (5.3 MiB as base64): far below the message limit, few enough messages for a big photo. */
export const CLOAK_CHUNK_BYTES = 4 * 1024 * 1024;

export type CloakPhase = 'queued' | 'detecting' | 'cloaking' | 'encoding';

export interface CloakProgress {
  phase: CloakPhase;
  /** 1-based face being cloaked; 0 before detection counted them. */
  face: number;
  /** Faces to cloak (small skipped faces not counted); 0 until detection is done. */
  faces: number;
  /** 1-based step of the current face; 0 outside 'cloaking'. */
  step: number;
  steps: number;
}

/** Why a cloak job failed. 'refused': the request itself was not acceptable (site off, too many jobs, malformed). */
export type CloakErrorCode = 'bad-image' | 'engine-failed' | 'cancelled' | 'refused';

export interface CloakFailure {
  code: CloakErrorCode;
  /** For people: what went wrong, in a sentence. */
  message: string;
  /** With 'bad-image': the decoder's ImageError code. */
  imageCode?: ImageErrorCode;
}

export interface CloakedFaceInfo {
  /** Detected face box, image pixels. */
  box: { x: number; y: number; width: number; height: number };
  /** The region that was changed, image pixels. */
  region: { x: number; y: number; width: number; height: number };
  /** Mean cosine to the clean embedding over the ensemble after cloaking (1 = unchanged). */
  ensembleSimilarity: number;
  /** Started from the person's personal mask (false: from noise; also for a face the mask did not fit). */
  fromPersonalMask: boolean;
}

export interface CloakSummary {
  /** No face large enough to cloak: the original bytes stand, nothing follows. */
  unchanged: boolean;
  /** Format of the input as detected from its bytes. */
  inputFormat: ImageFormat;
  /** MIME type of the output (the input's, or image/png for GIF, AVIF and BMP). Empty when unchanged. */
  mime: string;
  /** Output bytes that follow as chunks; 0 when unchanged. */
  size: number;
  width: number;
  height: number;
  strength: Strength;
  faces: CloakedFaceInfo[];
  skippedSmallFaces: number;
  /** Id of this cloak in the recent cloaks (its estimate arrives there later); null when none is kept. */
  recordId: string | null;
  timings: { queuedMs: number; decodeMs: number; detectMs: number; cloakMs: number[]; encodeMs: number; totalMs: number };
}

/** Content script -> background, on a CLOAK_PORT_NAME port: one 'start', then chunks until `size` bytes, pings. */
export type CloakClientMessage =
  /**
   * `name`: the file's name, kept in its recent-cloaks record; `source` and `site`: the photo came from "Protect image"
   * on a page of that site. All three are honoured from extension pages only (a content script's site is its sender's).
   */
  | {
      type: 'start';
      size: number;
      mime: string;
      strength?: Strength;
      name?: string;
      source?: 'protect-page' | 'protect-image';
      site?: string;
    }
  | { type: 'chunk'; data: string }
  /** Sent while waiting: port messages keep the service worker alive (an open port alone does not). */
  | { type: 'ping' };

/** Background -> content script: progress, then 'result' and (unless unchanged) chunks of the output; or 'error'. */
export type CloakServiceMessage =
  | { type: 'progress'; progress: CloakProgress }
  | { type: 'result'; summary: CloakSummary }
  | { type: 'chunk'; data: string }
  | { type: 'error'; failure: CloakFailure };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Runtime check of what a (possibly compromised) content script sends on a cloak port. */
export function isCloakClientMessage(value: unknown): value is CloakClientMessage {
  return isUploadMessage(
    value,
    (m) =>
      isFileSize(m.size) &&
      typeof m.mime === 'string' && m.mime.length <= 200 &&
      (m.strength === undefined || (STRENGTHS as readonly unknown[]).includes(m.strength)) &&
      (m.name === undefined || (typeof m.name === 'string' && m.name.length <= 255)) &&
      (m.source === undefined || m.source === 'protect-page' || m.source === 'protect-image') &&
      (m.site === undefined || (typeof m.site === 'string' && siteKeyForHost(m.site) === m.site)),
  );
}

/** What both upload ports carry: a 'start' (checked by `isStart`), then base64 'chunk's, and 'ping's. */
function isUploadMessage(value: unknown, isStart: (message: Record<string, unknown>) => boolean): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case 'start':
      return isStart(m);
    case 'chunk':
      return isBase64Chunk(m.data);
    case 'ping':
      return true;
    default:
      return false;
  }
}

/** A whole number of bytes the cloak service accepts for one file. */
function isFileSize(size: unknown): size is number {
  return Number.isSafeInteger(size) && (size as number) > 0 && (size as number) <= MAX_CLOAK_FILE_BYTES;
}

function isBase64Chunk(data: unknown): data is string {
  return (
    typeof data === 'string' && data.length > 0 && data.length % 4 === 0 &&
    data.length <= base64Length(CLOAK_CHUNK_BYTES) && BASE64.test(data)
  );
}

export function base64Length(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

/** Bytes a valid base64 string decodes to. */
export function base64DecodedLength(data: string): number {
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return (data.length / 4) * 3 - padding;
}

type Base64Native = { toBase64?: () => string };
type Base64Ctor = { fromBase64?: (data: string) => Uint8Array };

/** Base64 of `bytes`: the native Uint8Array.prototype.toBase64 where it exists (Chromium 140+), else btoa in slices. */
export function bytesToBase64(bytes: Uint8Array): string {
  const native = (bytes as Base64Native).toBase64;
  if (typeof native === 'function') return native.call(bytes);
  let binary = '';
  // Slices keep String.fromCharCode's argument list far below the engine's limit.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Decodes base64 into `target` at `offset`; returns the number of bytes written. */
export function base64Into(data: string, target: Uint8Array, offset: number): number {
  const native = (Uint8Array as Base64Ctor).fromBase64;
  const bytes = typeof native === 'function' ? native(data) : binaryToBytes(atob(data));
  if (offset + bytes.length > target.length) throw new RangeError('chunk runs past the end of the file');
  target.set(bytes, offset);
  return bytes.length;
}

function binaryToBytes(binary: string): Uint8Array {
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export interface CloakJobRef {
  /** Chosen by the background (random UUID); never from a content script. */
  job: string;
}
export interface CloakStartPayload extends CloakJobRef {
  size: number;
  strength: Strength;
  /** Where the photo goes, for its recent-cloaks record; null: keep no record (settings keep none). */
  origin: CloakOrigin | null;
  /** The person's personal mask when they have one (the document checks whether its engine can use it). */
  personalMask: PersonalMask | null;
}
export interface CloakChunkPayload extends CloakJobRef {
  offset: number;
  data: string;
}
export interface CloakTakePayload extends CloakJobRef {
  offset: number;
  length: number;
}
export type CloakRunResult = { ok: true; summary: CloakSummary } | { ok: false; failure: CloakFailure };
export interface CloakProgressPayload extends CloakJobRef {
  progress: CloakProgress;
}

// ---------------------------------------------------------------------------------------------------------------
// Learning a personal mask (issue 3). The options page opens one LEARN_MASK_PORT_NAME port, says how big each photo
// is, then sends the photos' bytes in order as base64 chunks (a chunk never spans two photos). The background
// uploads each photo as an offscreen cloak job (no cloak runs for it), asks the document to learn from them with
// 'offscreen:learnMask', stores the mask and answers with what the options page shows. Closing the port cancels.
// ---------------------------------------------------------------------------------------------------------------

export const LEARN_MASK_PORT_NAME = 'face-cloak:learn-mask';

/** Photos per personal mask: 3-5 are asked for; more only makes learning longer (32 steps each). */
export const MAX_MASK_PHOTOS = 8;

export interface MaskLearnProgress {
  phase: 'uploading' | 'queued' | 'detecting' | 'learning';
  /** 1-based learning step; 0 outside 'learning'. */
  step: number;
  steps: number;
}

/** Options page -> background, on a LEARN_MASK_PORT_NAME port. */
export type MaskClientMessage =
  | { type: 'start'; sizes: number[] }
  | { type: 'chunk'; data: string }
  | { type: 'ping' };

/** Background -> options page: progress, then the stored mask's info, or an error (nothing stored). */
export type MaskServiceMessage =
  | { type: 'progress'; progress: MaskLearnProgress }
  | { type: 'result'; mask: PersonalMaskInfo }
  | { type: 'error'; failure: CloakFailure };

/** Runtime check of what an extension page sends on a learn-mask port (content scripts are refused earlier). */
export function isMaskClientMessage(value: unknown): value is MaskClientMessage {
  return isUploadMessage(
    value,
    (m) => Array.isArray(m.sizes) && m.sizes.length >= 1 && m.sizes.length <= MAX_MASK_PHOTOS && m.sizes.every(isFileSize),
  );
}

export interface MaskLearnPayload extends CloakJobRef {
  /** Jobs opened with 'offscreen:cloakStart' whose bytes all arrived: the photos, in order. */
  photos: string[];
}
export type MaskLearnResult = { ok: true; mask: PersonalMask } | { ok: false; failure: CloakFailure };
export interface MaskProgressPayload extends CloakJobRef {
  progress: MaskLearnProgress;
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
  /** What a content script does with uploads beyond the site's settings: time limit, what to do on failure. */
  'background:getUploadPolicy': fromContent<void, UploadPolicy>(isNothing),
  /** Changes settings that are not per site (options page); returns all settings after the change. */
  'background:updateSettings': fromExtension<Partial<GeneralSettings>, Settings>(isGeneralSettingsPatch),
  /** Forgets a site's own settings (it then follows `otherSites`); a builtin site goes back to its defaults. */
  'background:removeSite': fromExtension<{ site: string }, Settings>(
    (p): p is { site: string } =>
      typeof p === 'object' && p !== null && typeof (p as { site: unknown }).site === 'string' &&
      siteKeyForHost((p as { site: string }).site) === (p as { site: string }).site,
  ),
  /** Replaces all settings with exported ones, parsed like stored data (invalid parts take defaults). */
  'background:importSettings': fromExtension<{ settings: unknown }, Settings>(
    (p): p is { settings: unknown } => typeof p === 'object' && p !== null && 'settings' in p,
  ),
  /** Back to the defaults, every site. */
  'background:resetSettings': fromExtension<void, Settings>(),
  /** The recent cloaks kept on this device, newest first (src/shared/recent-cloaks.ts). */
  'background:getRecentCloaks': fromExtension<void, RecentCloak[]>(),
  /** Deletes every recent cloak. */
  'background:clearRecentCloaks': fromExtension<void, void>(),
  /** The offscreen document reports a finished cloak (estimate pending). */
  'background:recordCloak': fromExtension<RecentCloak, void>(isRecentCloak),
  /** The offscreen document reports a cloak's protection estimate (or why there is none). */
  'background:recordEstimate': fromExtension<RecordEstimatePayload, void>(
    (p): p is RecordEstimatePayload =>
      typeof p === 'object' && p !== null && typeof (p as RecordEstimatePayload).id === 'string' &&
      isRecentCloakEstimate((p as RecordEstimatePayload).estimate),
  ),
  /** Starts the engine if needed and says which backend it runs on. */
  'background:engineStatus': fromExtension<void, EngineStatus>(),
  /**
   * What the "Protect image" context menu does, for an image in a tab: read it in the page, cloak it, download it.
   * Extension pages only (the popup, tests); the menu calls the same code directly.
   */
  'background:protectImage': fromExtension<ProtectImageRequest, ProtectImageResult>(
    (p): p is ProtectImageRequest =>
      typeof p === 'object' && p !== null && Number.isSafeInteger((p as ProtectImageRequest).tabId) &&
      Number.isSafeInteger((p as ProtectImageRequest).frameId) && typeof (p as ProtectImageRequest).srcUrl === 'string',
  ),
  /**
   * The protect page takes the image "Protect image" handed it, piece by piece; null when the handoff is unknown
   * (expired after a few minutes, or the service worker restarted meanwhile).
   */
  'background:takeImageHandoff': fromExtension<ImageHandoffRequest, ImageHandoffChunk | null>(
    (p): p is ImageHandoffRequest =>
      typeof p === 'object' && p !== null && typeof (p as ImageHandoffRequest).id === 'string' &&
      (p as ImageHandoffRequest).id.length <= 64 && Number.isSafeInteger((p as ImageHandoffRequest).offset) &&
      (p as ImageHandoffRequest).offset >= 0,
  ),
  /**
   * The offscreen document reports a cloak job's progress; `wanted: false` means the background no longer knows the
   * job (its requester left, or the service worker restarted and lost it), so the document drops it.
   */
  'background:cloakProgress': fromExtension<CloakProgressPayload, { wanted: boolean }>(),
  /** The stored personal mask, for the options page; null when there is none. */
  'background:getPersonalMask': fromExtension<void, PersonalMaskInfo | null>(),
  /** Forgets the personal mask: cloaks start from noise again. */
  'background:deletePersonalMask': fromExtension<void, void>(),
  /** The offscreen document reports a personal mask's learning progress; `wanted` as for cloakProgress. */
  'background:maskProgress': fromExtension<MaskProgressPayload, { wanted: boolean }>(),
  /** Answered by the offscreen document once tfjs has picked its backend. */
  'offscreen:status': fromExtension<void, EngineStatus>(),
  /** Opens a job: the document allocates `size` bytes for the file that follows as chunks. */
  'offscreen:cloakStart': fromExtension<CloakStartPayload, void>(),
  /** One piece of the file, base64, at `offset`. */
  'offscreen:cloakChunk': fromExtension<CloakChunkPayload, void>(),
  /**
   * Decodes, cloaks and encodes the job's file (queued behind other jobs: one cloak at a time). Replies when done,
   * minutes later for a big group photo; the output stays in the document for 'offscreen:cloakTake'.
   */
  'offscreen:cloakRun': fromExtension<CloakJobRef, CloakRunResult>(),
  /** A piece of the output, base64. */
  'offscreen:cloakTake': fromExtension<CloakTakePayload, { data: string }>(),
  /**
   * Learns a personal mask from the photos of earlier 'offscreen:cloakStart' jobs (queued like a cloak), then frees
   * them. Replies when done, a minute or more later; cancelled by 'offscreen:cloakRelease' with this job's id.
   */
  'offscreen:learnMask': fromExtension<MaskLearnPayload, MaskLearnResult>(),
  /** Cancels the job if it is still queued or running and frees its bytes; harmless for unknown jobs. */
  'offscreen:cloakRelease': fromExtension<CloakJobRef, void>(),
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
