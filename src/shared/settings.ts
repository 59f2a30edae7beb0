/**
 * The one settings schema: defaults, the types derived from them, a version and its migrations, and a parser that
 * turns whatever is in storage (nothing, an older version, hand-edited garbage) into a valid `Settings`.
 *
 * Pure code: no extension API, so it runs in Node unit tests. The background's settings store is the only writer.
 */

export const STRENGTHS = ['low', 'mid', 'high'] as const;
export type Strength = (typeof STRENGTHS)[number];

/** Sites whose host permission ships with the extension (manifest.json `host_permissions`), protected by default. */
export const BUILTIN_SITES = [
  'x.com',
  'twitter.com',
  'facebook.com',
  'instagram.com',
  'linkedin.com',
  'reddit.com',
  'bsky.app',
  'mastodon.social',
  'discord.com',
] as const;

const defaultSiteSettings = { enabled: true, strength: 'mid' as Strength };
export type SiteSettings = typeof defaultSiteSettings;

export const SETTINGS_VERSION = 1;

/**
 * Bounds of `cloakTimeoutSeconds`, seconds. 180 by default: the first photo waits for the models to load, and a
 * group photo at high strength on a slow CPU takes minutes. At most an hour: past that, something is stuck. As low as
 * 1 s is allowed (every photo then times out): the end-to-end tests use it to reach the timeout path.
 */
export const CLOAK_TIMEOUT_SECONDS = { min: 1, max: 3600, default: 180 } as const;

/**
 * How many days recent cloaks (thumbnails before/after, faces, time, protection estimate) are kept on this device
 * for the popup. 0 keeps none. A week by default: long enough to check an upload afterwards, short enough that the
 * extension is not a second photo album.
 */
export const RECENT_CLOAKS_DAYS = [0, 1, 7, 30] as const;
export type RecentCloaksDays = (typeof RECENT_CLOAKS_DAYS)[number];

/**
 * What happens to an upload when cloaking fails or times out: ask the person (retry / upload original / cancel), or
 * decide for them. Never a silent choice by default: 'ask'.
 */
export const FAILURE_CHOICES = ['ask', 'original', 'cancel'] as const;
export type FailureChoice = (typeof FAILURE_CHOICES)[number];

/** Settings live under this key in chrome.storage.local (on disk, this profile only, never synced). */
export const SETTINGS_STORAGE_KEY = 'settings';

export const defaultSettings = {
  version: SETTINGS_VERSION,
  /** Keyed by site key (see `siteKeyForHost`): the builtin sites, plus any site the user configured. */
  sites: Object.fromEntries(BUILTIN_SITES.map((site) => [site, { ...defaultSiteSettings }])) as Record<
    string,
    SiteSettings
  >,
  /** Applies to a site without an entry: such a site first needs its optional host permission, so off. */
  otherSites: { ...defaultSiteSettings, enabled: false } as SiteSettings,
  /**
   * How long one photo may take before the person is asked what to do: retry, upload the original, or cancel (every
   * site). Added in version 1 without a migration: stored data without it reads as the default.
   */
  cloakTimeoutSeconds: CLOAK_TIMEOUT_SECONDS.default as number,
  /** Days recent cloaks are kept (RECENT_CLOAKS_DAYS). Added in version 1 without a migration, like the next one. */
  recentCloaksDays: 7 as RecentCloaksDays,
  /** When cloaking an upload fails (FAILURE_CHOICES). */
  onCloakFailure: 'ask' as FailureChoice,
};
export type Settings = typeof defaultSettings;

/** A fresh copy of the defaults; callers may mutate it. */
export function createDefaultSettings(): Settings {
  return structuredClone(defaultSettings);
}

/** Upgrades stored data written by version `from` to version `from + 1`. Never mutates its input. */
export interface SettingsMigration {
  from: number;
  /** Why the shape changed, for whoever reads the history. */
  note: string;
  migrate(old: Record<string, unknown>): Record<string, unknown>;
}

/**
 * Ordered by `from`. Version 1 is the first released shape, so there is nothing to migrate yet. When the shape changes:
 * bump SETTINGS_VERSION and append `{from: <old version>, note, migrate}`; `parseSettings` runs the chain.
 */
export const settingsMigrations: readonly SettingsMigration[] = [];

/**
 * Turns stored data into valid settings. Runs migrations from the stored version, then keeps every field that is
 * valid and takes the default for the rest, so one bad value never throws away the user's other choices.
 * `needsWrite` tells the caller to store the result: the data was migrated, or was not settings at all. Data from a
 * newer version (after a downgrade) is read as well as we can but never written back over.
 */
export function parseSettings(
  raw: unknown,
  migrations: readonly SettingsMigration[] = settingsMigrations,
  currentVersion: number = SETTINGS_VERSION,
): { settings: Settings; needsWrite: boolean } {
  const settings = createDefaultSettings();
  settings.version = currentVersion;
  if (!isRecord(raw)) return { settings, needsWrite: raw !== undefined };

  let data = raw;
  let version = typeof data.version === 'number' && Number.isInteger(data.version) ? data.version : 0;
  const startVersion = version;
  while (version < currentVersion) {
    const step = migrations.find((m) => m.from === version);
    if (!step) break; // No path from this version: keep what still parses.
    data = step.migrate(data);
    version += 1;
  }

  if (isRecord(data.sites)) {
    for (const [key, value] of Object.entries(data.sites)) {
      const site = siteKeyForHost(key);
      if (site) settings.sites[site] = parseSiteSettings(value, settings.sites[site] ?? settings.otherSites);
    }
  }
  settings.otherSites = parseSiteSettings(data.otherSites, settings.otherSites);
  if (isCloakTimeoutSeconds(data.cloakTimeoutSeconds)) settings.cloakTimeoutSeconds = data.cloakTimeoutSeconds;
  if (isRecentCloaksDays(data.recentCloaksDays)) settings.recentCloaksDays = data.recentCloaksDays;
  if (isFailureChoice(data.onCloakFailure)) settings.onCloakFailure = data.onCloakFailure;
  return { settings, needsWrite: startVersion < currentVersion };
}

function parseSiteSettings(raw: unknown, fallback: SiteSettings): SiteSettings {
  const result = { ...fallback };
  if (!isRecord(raw)) return result;
  if (typeof raw.enabled === 'boolean') result.enabled = raw.enabled;
  if (isStrength(raw.strength)) result.strength = raw.strength;
  return result;
}

function isStrength(value: unknown): value is Strength {
  return typeof value === 'string' && (STRENGTHS as readonly string[]).includes(value);
}

/** A whole number of seconds within CLOAK_TIMEOUT_SECONDS. */
export function isCloakTimeoutSeconds(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isInteger(value) &&
    value >= CLOAK_TIMEOUT_SECONDS.min && value <= CLOAK_TIMEOUT_SECONDS.max
  );
}

export function isRecentCloaksDays(value: unknown): value is RecentCloaksDays {
  return (RECENT_CLOAKS_DAYS as readonly unknown[]).includes(value);
}

export function isFailureChoice(value: unknown): value is FailureChoice {
  return (FAILURE_CHOICES as readonly unknown[]).includes(value);
}

/** The settings that are not per site, as the options page changes them. */
export type GeneralSettings = Pick<Settings, 'otherSites' | 'cloakTimeoutSeconds' | 'recentCloaksDays' | 'onCloakFailure'>;

/** Validates a partial update of the general settings; unknown keys and invalid values are rejected. */
export function isGeneralSettingsPatch(value: unknown): value is Partial<GeneralSettings> {
  if (!isRecord(value)) return false;
  return Object.entries(value).every(([key, v]) => {
    switch (key) {
      case 'otherSites':
        return isRecord(v) && typeof v.enabled === 'boolean' && isStrength(v.strength) && Object.keys(v).length === 2;
      case 'cloakTimeoutSeconds':
        return isCloakTimeoutSeconds(v);
      case 'recentCloaksDays':
        return isRecentCloaksDays(v);
      case 'onCloakFailure':
        return isFailureChoice(v);
      default:
        return false;
    }
  });
}

/** Validates a partial update as sent by a UI; unknown keys and wrong types are rejected, not ignored. */
export function isSiteSettingsPatch(value: unknown): value is Partial<SiteSettings> {
  if (!isRecord(value)) return false;
  return Object.entries(value).every(([key, v]) =>
    key === 'enabled' ? typeof v === 'boolean' : key === 'strength' ? isStrength(v) : false,
  );
}

/**
 * The settings key of a host name: the builtin site it belongs to (`m.facebook.com` -> `facebook.com`), otherwise
 * the host itself without `www.`. Null for something that is not a host name we could protect.
 */
export function siteKeyForHost(host: string): string | null {
  const h = host.trim().toLowerCase().replace(/\.$/, '');
  // Host names only: letters, digits, hyphens and dots (IDNs arrive punycoded from URL parsing), at least one dot.
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(h)) return null;
  const builtin = BUILTIN_SITES.find((site) => h === site || h.endsWith(`.${site}`));
  if (builtin) return builtin;
  return h.startsWith('www.') ? h.slice(4) : h;
}

/** The settings key for a page URL, or null for non-web URLs (chrome://, extension pages, file:). */
export function siteKeyForUrl(url: string | undefined): string | null {
  if (!url) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return null;
  return siteKeyForHost(parsed.hostname);
}

/** The settings that apply to `site`: its own entry, else the one for other sites. */
export function siteSettingsFor(settings: Settings, site: string): SiteSettings {
  return { ...(settings.sites[site] ?? settings.otherSites) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
