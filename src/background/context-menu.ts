/**
 * The "Protect image" context menu on images. Menus persist across service-worker restarts, so they are (re)created
 * on install and update only; the click listener is registered at every start, synchronously, as MV3 requires.
 */

export const PROTECT_IMAGE_MENU_ID = 'protect-image';

/** The engine issue adds the success case (the cloaked image, saved through chrome.downloads). */
export type ProtectImageResult = { status: 'unavailable'; reason: string };

/** Cloaks the image at `srcUrl` for the user. Until the engine's cloak handler lands it says so instead. */
export type ProtectImage = (srcUrl: string, tab: chrome.tabs.Tab | undefined) => Promise<ProtectImageResult>;

export function registerContextMenu(protectImage: ProtectImage): void {
  chrome.runtime.onInstalled.addListener(() => {
    chrome.contextMenus.removeAll(() => {
      chrome.contextMenus.create({ id: PROTECT_IMAGE_MENU_ID, title: 'Protect image', contexts: ['image'] });
    });
  });
  chrome.contextMenus.onClicked.addListener((info, tab) => {
    if (info.menuItemId !== PROTECT_IMAGE_MENU_ID || !info.srcUrl) return;
    protectImage(info.srcUrl, tab).then(
      (result) => {
        if (result.status === 'unavailable') console.warn(`[face-cloak] Protect image: ${result.reason}`);
      },
      (error: unknown) => console.error('[face-cloak] Protect image failed:', error),
    );
  });
}
