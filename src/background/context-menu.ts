/**
 * The "Protect image" context menu on images: read the image in the page, cloak it, offer the cloaked copy as a
 * download. Menus persist across service-worker restarts, so they are (re)created on install and update only; the
 * click listener is registered at every start, synchronously, as MV3 requires.
 *
 * Zero network requests from extension contexts: the background never fetches `srcUrl`. A function injected into the
 * page's frame (isolated world; the click grants activeTab) reads the image the way the page could: fetch from the
 * page's origin, usually answered from the HTTP cache, with the page's CORS rules; data: and blob: URLs included.
 * When the page itself may not read the image (another site's image without CORS), the copy already shown is drawn
 * on a canvas; if that canvas is tainted too, the menu says so instead of fetching behind the page's back.
 *
 * Feedback without extra permissions: the toolbar badge on that tab shows progress and the outcome, its tooltip the
 * details. Copying to the clipboard is not offered: writing an image there needs a focused document (not the
 * offscreen one), and the page may have lost focus by the time a cloak ends.
 */
import {
  MAX_CLOAK_FILE_BYTES,
  type ProtectImageRequest,
  type ProtectImageResult,
  base64DecodedLength,
  base64Into,
} from '../shared/messages.ts';
import { siteKeyForUrl, siteSettingsFor } from '../shared/settings.ts';
import type { CloakService } from './cloak-service.ts';
import type { SettingsStore } from './settings-store.ts';

export const PROTECT_IMAGE_MENU_ID = 'protect-image';

/** A download must finish this soon (it reads a local blob: URL); the blob is revoked afterwards either way. */
const DOWNLOAD_TIMEOUT_MS = 60_000;

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

export function createProtectImage(deps: { settings: SettingsStore; cloaks: CloakService }): ProtectImage {
  return async ({ tabId, frameId, srcUrl }, pageUrl) => {
    const badge = tabBadge(tabId);
    badge.show('…', 'Face Cloak: reading the image');
    const result = await protect();
    if (result.status === 'downloaded') {
      badge.show('✓', `Face Cloak: ${result.faces} face(s) protected, saved as ${result.filename}`);
    } else if (result.status === 'no-face') {
      badge.show('0', 'Face Cloak: no face large enough to protect in this image; nothing was saved');
    } else {
      badge.show('!', `Face Cloak: ${result.message}`);
    }
    return result;

    async function protect(): Promise<ProtectImageResult> {
      const read = await readImageInPage(tabId, frameId, srcUrl);
      if (!read.ok) return { status: 'failed', code: 'unreadable', message: read.reason };

      // The strength of the site the image is shown on, even where uploads are not protected: the person asked.
      const settings = await deps.settings.get();
      const site = siteKeyForUrl(pageUrl);
      const strength = (site ? siteSettingsFor(settings, site) : settings.otherSites).strength;

      const outcome = await deps.cloaks
        .cloak({
          bytes: read.bytes,
          strength,
          origin: { source: 'protect-image', site },
          onProgress: (p) => {
            if (p.phase === 'cloaking' && p.steps > 0) {
              const done = (p.face - 1 + p.step / p.steps) / p.faces;
              badge.show(`${Math.floor(done * 100)}%`, `Face Cloak: protecting face ${p.face} of ${p.faces}`);
            }
          },
        })
        .catch((error: unknown) => ({
          ok: false as const,
          failure: { code: 'engine-failed' as const, message: `The cloak engine could not run: ${String(error)}` },
        }));
      if (!outcome.ok) return { status: 'failed', code: outcome.failure.code, message: outcome.failure.message };
      const { summary } = outcome;
      if (summary.unchanged) return { status: 'no-face', skippedSmallFaces: summary.skippedSmallFaces };

      const filename = cloakedName(srcUrl, summary.mime);
      try {
        const downloadId = await outcome.withObjectUrl(async (url) => {
          const id = await chrome.downloads.download({ url, filename, conflictAction: 'uniquify' });
          await downloadFinished(id); // The blob: URL is revoked after this: the download must have read it.
          return id;
        });
        return {
          status: 'downloaded',
          downloadId,
          filename,
          faces: summary.faces.length,
          skippedSmallFaces: summary.skippedSmallFaces,
        };
      } catch (error) {
        return { status: 'failed', code: 'engine-failed', message: `Saving the protected image failed: ${String(error)}` };
      }
    }
  };
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

/** `<name>-cloaked.<ext>` from the image URL's last path segment; `image-cloaked.<ext>` when there is none. */
export function cloakedName(srcUrl: string, mime: string): string {
  const ext = mime === 'image/jpeg' ? 'jpg' : mime === 'image/webp' ? 'webp' : 'png';
  let stem = 'image';
  try {
    const url = new URL(srcUrl);
    if (url.protocol === 'http:' || url.protocol === 'https:') {
      const last = decodeURIComponent(url.pathname.split('/').pop() ?? '');
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
  return `${stem}-cloaked.${ext}`;
}

function downloadFinished(id: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('the download did not finish in time')), DOWNLOAD_TIMEOUT_MS);
    const listener = (delta: chrome.downloads.DownloadDelta) => {
      if (delta.id !== id) return;
      if (delta.state?.current === 'complete') done();
      else if (delta.state?.current === 'interrupted') done(new Error(delta.error?.current ?? 'download interrupted'));
    };
    const done = (error?: Error) => {
      clearTimeout(timer);
      chrome.downloads.onChanged.removeListener(listener);
      if (error) reject(error);
      else resolve();
    };
    chrome.downloads.onChanged.addListener(listener);
    // It may have finished before the listener was added.
    void chrome.downloads.search({ id }).then(([item]) => {
      if (item?.state === 'complete') done();
      else if (item?.state === 'interrupted') done(new Error(item.error ?? 'download interrupted'));
    });
  });
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
