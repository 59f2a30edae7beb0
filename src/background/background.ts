/**
 * Background entry (Chromium service worker, Firefox event page). Owns settings and the personal mask, routes
 * messages, runs the offscreen document, registers the context menu. Every listener is registered synchronously at start: the worker is stopped
 * when idle and restarted for the next event, and only listeners present at startup receive it.
 */
import { handleMessages } from '../shared/messages.ts';
import { CloakService } from './cloak-service.ts';
import { ImageHandoffs, createProtectImage, registerContextMenu } from './context-menu.ts';
import { OffscreenHost } from './offscreen-host.ts';
import { PersonalMaskService } from './personal-mask-service.ts';
import { PersonalMaskStore } from './personal-mask-store.ts';
import { RecentCloaksStore } from './recent-cloaks-store.ts';
import { createRouter } from './router.ts';
import { SettingsStore } from './settings-store.ts';
import { registerAddedSiteScripts } from './site-scripts.ts';

const settings = new SettingsStore();
const recent = new RecentCloaksStore(settings);
const offscreen = new OffscreenHost();
const masks = new PersonalMaskStore();
const cloaks = new CloakService({ settings, offscreen, masks });
const maskLearning = new PersonalMaskService({ offscreen, masks });

const handoffs = new ImageHandoffs();
const protectImage = createProtectImage({ settings, handoffs });

handleMessages<'background'>(createRouter({ settings, recent, offscreen, cloaks, masks, maskLearning, protectImage, handoffs }));
cloaks.listen();
maskLearning.listen();
registerContextMenu(protectImage);
registerAddedSiteScripts(settings);

// After a worker restart, an offscreen document may still be open (with a job whose requester is gone).
void offscreen.adoptLeftover().catch(() => undefined);

chrome.runtime.onInstalled.addListener(() => {
  // Migrate (or create) stored settings right after an install or update, not at the first popup open.
  void settings.get();
});

if (__TEST__) {
  // Test-only handle for BUILD_TEST=1 builds; a production bundle does not contain this.
  Object.assign(globalThis, { faceCloakTest: { settings, recent, offscreen, cloaks, masks } });
}
