/**
 * Upload protection on sites the person added: the manifest's content scripts only match the builtin sites, so for a
 * site whose optional host permission was granted (popup or options page) the same two scripts (MAIN world hooks and
 * the isolated bridge) are registered at run time with chrome.scripting, for exactly the granted sites that are on.
 * Re-synced whenever permissions or settings change, and at start; registrations persist across browser sessions.
 * The content script still asks the background whether its site is on before catching anything.
 */
import { BUILTIN_SITES, SETTINGS_STORAGE_KEY, type Settings, siteKeyForHost, siteSettingsFor } from '../shared/settings.ts';
import type { SettingsStore } from './settings-store.ts';

const MAIN_SCRIPT_ID = 'face-cloak-added-sites-main';
const ISOLATED_SCRIPT_ID = 'face-cloak-added-sites';

/**
 * What a granted origin pattern is about: 'every-host' for a grant of every host (`https://*\/*`), the settings key of
 * an added (non-builtin) site (`https://*.example.org/*` -> example.org), or null (a builtin site, which the
 * manifest's content scripts cover, or not a host pattern).
 */
function addedSiteOf(pattern: string): string | 'every-host' | null {
  const host = /^(?:https?|\*):\/\/([^/]+)\/.*$/.exec(pattern)?.[1];
  if (!host) return null;
  if (host === '*') return 'every-host';
  const site = siteKeyForHost(host.replace(/^\*\./, ''));
  return site && !(BUILTIN_SITES as readonly string[]).includes(site) ? site : null;
}

/**
 * Match patterns for the granted origins whose site is on. `granted`: chrome.permissions.getAll().origins. Builtin
 * sites are left out (the manifest covers them). A grant for every host is used as it is when any non-builtin site
 * could be on (other sites on by default, or one of them on), since the content script checks the site itself.
 */
export function addedSiteMatches(granted: readonly string[], settings: Settings): string[] {
  const anyOtherOn =
    settings.otherSites.enabled ||
    Object.entries(settings.sites).some(([site, s]) => s.enabled && !(BUILTIN_SITES as readonly string[]).includes(site));
  const matches = granted.filter((pattern) => {
    const site = addedSiteOf(pattern);
    return site === 'every-host' ? anyOtherOn : site !== null && siteSettingsFor(settings, site).enabled;
  });
  return [...new Set(matches)].sort();
}

/** The added sites of granted origin patterns (`https://*.example.org/*` -> example.org). */
export function grantedSites(origins: readonly string[]): string[] {
  const sites = origins.map(addedSiteOf).filter((site): site is string => site !== null && site !== 'every-host');
  return [...new Set(sites)];
}

export function registerAddedSiteScripts(settings: SettingsStore): void {
  let queue: Promise<unknown> = Promise.resolve();
  const sync = () => {
    // Serialised: two quick changes must not interleave their unregister/register.
    queue = queue.then(() => syncAddedSiteScripts(settings)).catch((error: unknown) =>
      console.error('[face-cloak] could not register the content scripts for added sites:', error),
    );
  };
  chrome.permissions.onAdded.addListener(({ origins = [] }) => {
    // Access to a site is only ever asked for to protect it: switch it on here too, since the page that asked may
    // be gone by the time the grant arrives (Firefox closes the popup when its permission prompt opens).
    queue = queue
      .then(() => Promise.all(grantedSites(origins).map((site) => settings.updateSite(site, { enabled: true }))))
      .catch((error: unknown) => console.error('[face-cloak] could not switch on a newly allowed site:', error));
    sync();
  });
  chrome.permissions.onRemoved.addListener(sync);
  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === 'local' && SETTINGS_STORAGE_KEY in changes) sync();
  });
  chrome.runtime.onInstalled.addListener(sync);
  chrome.runtime.onStartup.addListener(sync);
}

async function syncAddedSiteScripts(store: SettingsStore): Promise<void> {
  const [{ origins = [] }, settings] = await Promise.all([chrome.permissions.getAll(), store.get()]);
  const matches = addedSiteMatches(origins, settings);
  const registered = await chrome.scripting.getRegisteredContentScripts({ ids: [MAIN_SCRIPT_ID, ISOLATED_SCRIPT_ID] });
  const current = registered.find((script) => script.id === ISOLATED_SCRIPT_ID)?.matches ?? [];
  if (registered.length === 2 && current.join('\n') === matches.join('\n')) return;
  if (registered.length > 0) await chrome.scripting.unregisterContentScripts({ ids: registered.map((script) => script.id) });
  if (matches.length === 0) return;
  const common = { matches, runAt: 'document_start' as const, allFrames: true, persistAcrossSessions: true };
  await chrome.scripting.registerContentScripts([
    { ...common, id: MAIN_SCRIPT_ID, js: ['content-main.js'], world: 'MAIN' },
    { ...common, id: ISOLATED_SCRIPT_ID, js: ['content.js'] },
  ]);
}
