/**
 * The settings owner: the only code that writes settings. Stored in chrome.storage.local (on disk, this profile
 * only). Writes are serialised so two quick changes from the popup cannot overwrite each other; the service worker
 * keeps no copy, since it can be stopped at any time.
 */
import {
  type GeneralSettings,
  SETTINGS_STORAGE_KEY,
  type Settings,
  type SiteSettings,
  createDefaultSettings,
  isGeneralSettingsPatch,
  parseSettings,
  siteKeyForHost,
  siteSettingsFor,
} from '../shared/settings.ts';

export class SettingsStore {
  private queue: Promise<unknown> = Promise.resolve();

  /** Current settings; migrates what is stored (and writes the result back) when it is from an older version. */
  get(): Promise<Settings> {
    return this.exclusive(() => this.read());
  }

  /** Applies `patch` to one site's settings and returns them as stored. */
  updateSite(site: string, patch: Partial<SiteSettings>): Promise<SiteSettings> {
    return this.exclusive(async () => {
      if (siteKeyForHost(site) !== site) throw new Error(`not a site key: ${JSON.stringify(site)}`);
      const settings = await this.read();
      const updated = { ...siteSettingsFor(settings, site), ...patch };
      settings.sites[site] = updated;
      await chrome.storage.local.set({ [SETTINGS_STORAGE_KEY]: settings });
      return { ...updated };
    });
  }

  /** Applies a validated patch of the settings that are not per site; returns all settings as stored. */
  update(patch: Partial<GeneralSettings>): Promise<Settings> {
    return this.exclusive(async () => {
      if (!isGeneralSettingsPatch(patch)) throw new Error('not a valid settings change');
      const settings = { ...(await this.read()), ...structuredClone(patch) };
      await chrome.storage.local.set({ [SETTINGS_STORAGE_KEY]: settings });
      return settings;
    });
  }

  /** Forgets a site's own entry: a builtin site gets its defaults back, any other follows `otherSites` again. */
  removeSite(site: string): Promise<Settings> {
    return this.exclusive(async () => {
      if (siteKeyForHost(site) !== site) throw new Error(`not a site key: ${JSON.stringify(site)}`);
      const settings = await this.read();
      const defaults = createDefaultSettings().sites[site];
      if (defaults) settings.sites[site] = defaults;
      else delete settings.sites[site];
      await chrome.storage.local.set({ [SETTINGS_STORAGE_KEY]: settings });
      return settings;
    });
  }

  /**
   * Replaces everything with `data` (an export), parsed as stored data is: what is valid is kept, the rest takes
   * defaults. Data that is not settings at all is refused rather than silently resetting everything.
   */
  import(data: unknown): Promise<Settings> {
    return this.exclusive(async () => {
      if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('not a settings export');
      const { settings } = parseSettings(data);
      await chrome.storage.local.set({ [SETTINGS_STORAGE_KEY]: settings });
      return settings;
    });
  }

  reset(): Promise<Settings> {
    return this.exclusive(async () => {
      const settings = createDefaultSettings();
      await chrome.storage.local.set({ [SETTINGS_STORAGE_KEY]: settings });
      return settings;
    });
  }

  private async read(): Promise<Settings> {
    const stored: unknown = (await chrome.storage.local.get(SETTINGS_STORAGE_KEY))[SETTINGS_STORAGE_KEY];
    const { settings, needsWrite } = parseSettings(stored);
    if (needsWrite) await chrome.storage.local.set({ [SETTINGS_STORAGE_KEY]: settings });
    return settings;
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
