/**
 * The "Protect image" context menu on images: read the image in the page, then open the protect page
 * (src/pages/protect/) on it, where the person sees the cloak's progress, the before/after comparison and the
 * protection estimate, and saves or copies the result. Menus persist across service-worker restarts, so they are
 * (re)created on install and update only; the click listener is registered at every start, synchronously, as MV3
 * requires.
 *
 * Zero network requests from extension contexts: the background never fetches `srcUrl`. A function injected into the
 * page's frame (isolated world; the click grants activeTab) reads the image the way the page could: fetch from the
 * page's origin, usually answered from the HTTP cache, with the page's CORS rules; data: and blob: URLs included.
 * When the page itself may not read the image (another site's image without CORS), the copy already shown is drawn
 * on a canvas; if that canvas is tainted too, the protect page opens with the reason instead of the background
 * fetching behind the page's back.
 *
 * Handing the bytes over: the background keeps them in memory (ImageHandoffs) under a random id and opens
 * protect.html?image=<id>; the page takes them piece by piece with 'background:takeImageHandoff' and cloaks them
 * through the same port as a file chosen there, with the strength of the site the image was shown on. Why not the
 * URL or storage: an image can be tens of MB (data: URLs are capped at 2 MB, storage.session at 10 MB), and the page
 * asks within a second of being opened, long before the worker's 30 s idle stop. If the worker was stopped anyway,
 * the page says the image is no longer available.
 */
import {
  CLOAK_CHUNK_BYTES,
  type ImageHandoffChunk,
  MAX_CLOAK_FILE_BYTES,
  type ProtectImageRequest,
  type ProtectImageResult,
  base64DecodedLength,
  base64Into,
  bytesToBase64,
} from '../shared/messages.ts';
import { type Strength, siteKeyForUrl, siteSettingsFor } from '../shared/settings.ts';
import type { SettingsStore } from './settings-store.ts';

export const PROTECT_IMAGE_MENU_ID = 'protect-image';

/** A handoff the protect page did not take within this long is dropped (its tab was closed at once, say). */
const HANDOFF_TTL_MS = 10 * 60_000;
/** At most this many images wait at once; the oldest goes first. */
const MAX_HANDOFFS = 8;

export type ProtectImage = (request: ProtectImageRequest, pageUrl: string | undefined) => Promise<ProtectImageResult>;

export function registerContextMenu(protectImage: ProtectImage): void {
  chrome.runtime.onInstalled.addListener(() => {
    chrome.contextMenus.removeAll(() => {
      chrome.contextMenus.create({ id: PROTECT_IMAGE_MENU_ID, title: 'Protect image', contexts: ['image'] });
    });
  });
  chrome.contextMenus.onClicked.addListener((info, tab) => {
    if (info.menuItemId !== PROTECT_IMAGE_MENU_ID || !info.srcUrl || typeof tab?.id !== 'number') return;
    const request = { tabId: tab.id, frameId: info.frameId ?? 0, srcUrl: info.srcUrl };
    protectImage(request, info.frameUrl ?? info.pageUrl).catch((error: unknown) =>
      console.error('[face-cloak] Protect image failed:', error),
    );
  });
}

interface Handoff {
  bytes: Uint8Array;
  name: string;
  mime: string;
  strength: Strength;
  site: string | null;
  expires: number;
}

/** Images read by "Protect image", waiting for the protect page to take them (memory only: see the file's header). */
export class ImageHandoffs {
  private readonly waiting = new Map<string, Handoff>();

  constructor(private readonly now: () => number = Date.now) {}

  put(handoff: Omit<Handoff, 'expires'>): string {
    this.prune();
    while (this.waiting.size >= MAX_HANDOFFS) this.waiting.delete(this.waiting.keys().next().value!);
    const id = crypto.randomUUID();
    this.waiting.set(id, { ...handoff, expires: this.now() + HANDOFF_TTL_MS });
    return id;
  }

  /**
   * The piece of image `id` from `offset`, or null when there is no such image (any more). Kept until it expires,
   * so a reload of the protect page still finds it.
   */
  take(id: string, offset: number): ImageHandoffChunk | null {
    this.prune();
    const handoff = this.waiting.get(id);
    if (!handoff || offset > handoff.bytes.length) return null;
    const { bytes, name, mime, strength, site } = handoff;
    return { name, mime, size: bytes.length, strength, site, data: bytesToBase64(bytes.subarray(offset, offset + CLOAK_CHUNK_BYTES)) };
  }

  private prune(): void {
    const now = this.now();
    for (const [id, handoff] of this.waiting) if (handoff.expires <= now) this.waiting.delete(id);
  }
}

export function createProtectImage(deps: { settings: SettingsStore; handoffs: ImageHandoffs }): ProtectImage {
  return async ({ tabId, frameId, srcUrl }, pageUrl) => {
    const badge = tabBadge(tabId);
    badge.show('…', 'Face Cloak: reading the image');
    const read = await readImageInPage(tabId, frameId, srcUrl);
    if (!read.ok) {
      badge.show('!', `Face Cloak: ${read.reason}`);
      const opened = await openProtectPage(tabId, `failed=${encodeURIComponent(read.reason)}`);
      return { status: 'failed', code: 'unreadable', message: read.reason, ...(opened === undefined ? {} : { tabId: opened }) };
    }
    badge.show('', 'Face Cloak');

    // The strength of the site the image is shown on, even where uploads are not protected: the person asked.
    const settings = await deps.settings.get();
    const site = siteKeyForUrl(pageUrl);
    const strength = (site ? siteSettingsFor(settings, site) : settings.otherSites).strength;
    const format = sniffImage(read.bytes);
    const handoff = deps.handoffs.put({
      bytes: read.bytes,
      name: imageFileName(srcUrl, format?.ext),
      mime: format?.mime ?? '',
      strength,
      site,
    });
    const opened = await openProtectPage(tabId, `image=${handoff}`);
    if (opened === undefined) return { status: 'failed', code: 'unreadable', message: 'The protect page could not be opened.' };
    return { status: 'opened', tabId: opened, handoff };
  };
}

/** Opens protect.html?<query> next to the tab the image is in; resolves with the new tab's id. */
async function openProtectPage(besideTabId: number, query: string): Promise<number | undefined> {
  const opener = await chrome.tabs.get(besideTabId).catch(() => undefined);
  const tab = await chrome.tabs
    .create({
      url: chrome.runtime.getURL(`protect.html?${query}`),
      ...(opener ? { index: opener.index + 1, openerTabId: besideTabId, windowId: opener.windowId } : {}),
    })
    .catch((error: unknown) => {
      console.error('[face-cloak] could not open the protect page:', error);
      return undefined;
    });
  return tab?.id;
}

type ReadResult = { ok: true; bytes: Uint8Array } | { ok: false; reason: string };

async function readImageInPage(tabId: number, frameId: number, srcUrl: string): Promise<ReadResult> {
  let injected: chrome.scripting.InjectionResult<Awaited<ReturnType<typeof readImageFromPage>>>[];
  try {
    injected = await chrome.scripting.executeScript({
      target: { tabId, frameIds: [frameId] },
      func: readImageFromPage,
      args: [srcUrl, MAX_CLOAK_FILE_BYTES],
    });
  } catch (error) {
    return { ok: false, reason: `Face Cloak cannot read images on this page (${String(error)}).` };
  }
  const reply = injected[0]?.result;
  if (!reply) return { ok: false, reason: 'The page did not answer.' };
  if (!reply.ok) return reply;
  // The page's answer is untrusted: check it is what we asked for before using it.
  if (typeof reply.data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(reply.data) || reply.data.length % 4 !== 0) {
    return { ok: false, reason: 'The page answered with something that is not an image.' };
  }
  const size = base64DecodedLength(reply.data);
  if (size === 0 || size > MAX_CLOAK_FILE_BYTES) return { ok: false, reason: 'This image is empty or too large.' };
  const bytes = new Uint8Array(size);
  base64Into(reply.data, bytes, 0);
  return { ok: true, bytes };
}

/**
 * Runs in the page's frame (isolated world), so it must be self-contained: no imports, no closures. Returns the
 * image's bytes as base64 (results cross as JSON).
 */
async function readImageFromPage(
  src: string,
  maxBytes: number,
): Promise<{ ok: true; data: string } | { ok: false; reason: string }> {
  const toBase64 = (bytes: Uint8Array) => {
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(binary);
  };
  const tooLarge = { ok: false as const, reason: 'This image is too large to protect.' };
  try {
    // The page's own request (its origin, its CORS rules), from the HTTP cache when it is there.
    const response = await fetch(src, { cache: 'force-cache' });
    if (!response.ok) return { ok: false, reason: `The image could not be loaded again (HTTP ${response.status}).` };
    const blob = await response.blob();
    if (blob.size > maxBytes) return tooLarge;
    return { ok: true, data: toBase64(new Uint8Array(await blob.arrayBuffer())) };
  } catch {
    // Typically another site's image without CORS: the page may show it but not read it. Try the shown copy.
  }
  const image = [...document.images].find((img) => img.currentSrc === src || img.src === src);
  if (!image || !image.complete || image.naturalWidth === 0) {
    return { ok: false, reason: 'This image cannot be read from the page.' };
  }
  try {
    const canvas = document.createElement('canvas');
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    canvas.getContext('2d')!.drawImage(image, 0, 0);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
    if (!blob) return { ok: false, reason: 'This image cannot be read from the page.' };
    if (blob.size > maxBytes) return tooLarge;
    return { ok: true, data: toBase64(new Uint8Array(await blob.arrayBuffer())) };
  } catch {
    return {
      ok: false,
      reason: 'This image comes from another site that does not let pages read it. Save it, then upload it here.',
    };
  }
}

/** An image format recognised from its first bytes: what the engine decodes, plus what it turns into PNG. */
export function sniffImage(bytes: Uint8Array): { mime: string; ext: string } | null {
  const at = (offset: number, text: string) => [...text].every((c, i) => bytes[offset + i] === c.charCodeAt(0));
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return { mime: 'image/jpeg', ext: 'jpg' };
  if (bytes[0] === 0x89 && at(1, 'PNG')) return { mime: 'image/png', ext: 'png' };
  if (at(0, 'RIFF') && at(8, 'WEBP')) return { mime: 'image/webp', ext: 'webp' };
  if (at(0, 'GIF8')) return { mime: 'image/gif', ext: 'gif' };
  if (at(0, 'BM')) return { mime: 'image/bmp', ext: 'bmp' };
  if (at(4, 'ftypavif') || at(4, 'ftypavis')) return { mime: 'image/avif', ext: 'avif' };
  return null;
}

/**
 * `<name>.<ext>` from the image URL's last path segment and the format of its bytes (`image.<ext>` when the URL has
 * no name, e.g. data: and blob: URLs); without a known format, the URL's own extension stays.
 */
export function imageFileName(srcUrl: string, ext: string | undefined): string {
  let stem = 'image';
  let urlExt = '';
  try {
    const url = new URL(srcUrl);
    if (url.protocol === 'http:' || url.protocol === 'https:') {
      const last = decodeURIComponent(url.pathname.split('/').pop() ?? '');
      urlExt = /\.([A-Za-z0-9]{1,5})$/.exec(last)?.[1] ?? '';
      // Keep a plain file name: no path separators, control or reserved characters, no leading dots.
      const cleaned = [...last.replace(/\.[^.]*$/, '')]
        .map((c) => (c < ' ' || '\\/:*?"<>|'.includes(c) ? '_' : c))
        .join('')
        .replace(/^[.\s]+/, '');
      if (cleaned) stem = cleaned.slice(0, 80);
    }
  } catch {
    // Not a URL we can take a name from.
  }
  const extension = ext ?? urlExt;
  return extension ? `${stem}.${extension}` : stem;
}

function tabBadge(tabId: number) {
  return {
    show(text: string, title: string) {
      // The tab may be gone by now; the badge is a courtesy, not worth an error.
      void chrome.action.setBadgeText({ tabId, text }).catch(() => undefined);
      void chrome.action.setTitle({ tabId, title }).catch(() => undefined);
    },
  };
}
