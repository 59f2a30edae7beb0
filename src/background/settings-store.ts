/**
 * The settings owner: the only code that writes settings. Stored in chrome.storage.local (on disk, this profile
 * only). Writes are serialised so two quick changes from the popup cannot overwrite each other; the service worker
 * keeps no copy, since it can be stopped at any time.
 */
import {
  SETTINGS_STORAGE_KEY,
  type Settings,
  type SiteSettings,
  isCloakTimeoutSeconds,
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

  /** Sets `cloakTimeoutSeconds` (already validated by the message's check) and returns it as stored. */
  setCloakTimeout(seconds: number): Promise<number> {
    return this.exclusive(async () => {
      if (!isCloakTimeoutSeconds(seconds)) throw new Error(`not a valid cloak timeout: ${JSON.stringify(seconds)}`);
      const settings = await this.read();
      settings.cloakTimeoutSeconds = seconds;
      await chrome.storage.local.set({ [SETTINGS_STORAGE_KEY]: settings });
      return seconds;
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
