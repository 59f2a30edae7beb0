/**
 * The background's message handlers: one entry per 'background:*' message of src/shared/messages.ts (TypeScript
 * rejects a missing one). Access checks happen in `handleMessages` before a handler runs.
 */
import { type HandlerMap, sendMessage } from '../shared/messages.ts';
import { siteKeyForUrl, siteSettingsFor } from '../shared/settings.ts';
import type { CloakService } from './cloak-service.ts';
import type { ImageHandoffs, ProtectImage } from './context-menu.ts';
import type { OffscreenHost } from './offscreen-host.ts';
import type { PersonalMaskService } from './personal-mask-service.ts';
import type { PersonalMaskStore } from './personal-mask-store.ts';
import type { RecentCloaksStore } from './recent-cloaks-store.ts';
import type { SettingsStore } from './settings-store.ts';

/** tfjs picks its backend when the offscreen document starts; WebGPU on SwiftShader alone can take seconds. */
const ENGINE_START_TIMEOUT_MS = 120_000;

export function createRouter(deps: {
  settings: SettingsStore;
  recent: RecentCloaksStore;
  offscreen: OffscreenHost;
  cloaks: CloakService;
  masks: PersonalMaskStore;
  maskLearning: PersonalMaskService;
  protectImage: ProtectImage;
  handoffs: ImageHandoffs;
}): HandlerMap<'background'> {
  return {
    'background:getSettings': () => deps.settings.get(),

    'background:setSiteSettings': ({ site, patch }) => deps.settings.updateSite(site, patch),

    'background:getSiteSettings': async (_payload, sender) => {
      // The site comes from the browser-provided sender URL, never from the (untrusted) content script.
      const site = siteKeyForUrl(sender.url);
      const settings = await deps.settings.get();
      if (!site) return { site, settings: { ...settings.otherSites, enabled: false } };
      return { site, settings: siteSettingsFor(settings, site) };
    },

    'background:getUploadPolicy': async () => {
      const { cloakTimeoutSeconds, onCloakFailure } = await deps.settings.get();
      return { cloakTimeoutSeconds, onCloakFailure };
    },

    'background:updateSettings': async (patch) => {
      const settings = await deps.settings.update(patch);
      if (patch.recentCloaksDays !== undefined) await deps.recent.prune();
      return settings;
    },

    'background:removeSite': ({ site }) => deps.settings.removeSite(site),

    'background:importSettings': async ({ settings: data }) => {
      const settings = await deps.settings.import(data);
      await deps.recent.prune();
      return settings;
    },

    'background:resetSettings': async () => {
      const settings = await deps.settings.reset();
      await deps.recent.prune();
      return settings;
    },

    'background:getRecentCloaks': () => deps.recent.list(),

    'background:clearRecentCloaks': () => deps.recent.clear(),

    'background:recordCloak': (record) => deps.recent.add(record),

    'background:recordEstimate': ({ id, estimate }) => deps.recent.setEstimate(id, estimate),

    'background:engineStatus': () =>
      deps.offscreen.use(() => sendMessage('offscreen:status', undefined, { timeoutMs: ENGINE_START_TIMEOUT_MS })),

    'background:cloakProgress': ({ job, progress }) => deps.cloaks.progress(job, progress),

    'background:getPersonalMask': () => deps.masks.info(),

    'background:deletePersonalMask': () => deps.masks.clear(),

    'background:maskProgress': ({ job, progress }) => deps.maskLearning.progress(job, progress),

    'background:protectImage': async (request) => {
      // The page's URL decides the strength; the browser knows it, the request does not say it.
      const tab = await chrome.tabs.get(request.tabId).catch(() => undefined);
      return deps.protectImage(request, tab?.url);
    },

    'background:takeImageHandoff': ({ id, offset }) => deps.handoffs.take(id, offset),
  };
}
