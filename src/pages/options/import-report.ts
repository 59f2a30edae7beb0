/**
 * What the options page says about an imported settings file: whether it looks like an export at all (the background
 * parses anything object-shaped, taking defaults for what is invalid, so a random JSON file would silently reset
 * everything), and afterwards which parts of it were not taken. Pure, unit-tested.
 */
import { SETTINGS_VERSION, type Settings, siteKeyForHost } from '../../shared/settings.ts';

/** Null when `data` looks like a settings export; else why not, in a sentence. */
export function exportProblem(data: unknown): string | null {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return 'This file does not hold Face Cloak settings (it is not a settings object).';
  }
  const record = data as Record<string, unknown>;
  if (typeof record.version !== 'number' || typeof record.sites !== 'object' || record.sites === null || Array.isArray(record.sites)) {
    return 'This file does not hold Face Cloak settings (it has no version and no sites).';
  }
  return null;
}

/** The parts of `data` (an export that passed `exportProblem`) that `imported` (the settings now stored) did not keep. */
export function importWarnings(data: Record<string, unknown>, imported: Settings): string[] {
  const warnings: string[] = [];
  if (typeof data.version === 'number' && data.version > SETTINGS_VERSION) {
    warnings.push(`The file comes from a newer Face Cloak (settings version ${data.version}); what this version understands was taken.`);
  }
  const sites = data.sites as Record<string, unknown>;
  for (const [key, value] of Object.entries(sites)) {
    const site = siteKeyForHost(key);
    if (!site) {
      warnings.push(`"${key}" is not a site name: skipped.`);
      continue;
    }
    const stored = imported.sites[site];
    const given = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
    if (!stored || given.enabled !== stored.enabled || given.strength !== stored.strength) {
      warnings.push(`${site}: some of its settings were not valid; defaults were used for them.`);
    }
  }
  const general: [keyof Settings, string][] = [
    ['otherSites', 'Settings for other sites'],
    ['cloakTimeoutSeconds', 'The time limit'],
    ['recentCloaksDays', 'How long recent cloaks are kept'],
    ['onCloakFailure', 'What happens when cloaking fails'],
  ];
  for (const [key, label] of general) {
    if (key in data && !sameValue(data[key], imported[key])) {
      warnings.push(`${label}: the value in the file was not valid; the default was used.`);
    }
  }
  return warnings;
}

/** Equal as JSON data, object keys in any order. */
function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return a === b;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
