import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  isGeneralSettingsPatch,
  BUILTIN_SITES,
  CLOAK_TIMEOUT_SECONDS,
  SETTINGS_VERSION,
  type SettingsMigration,
  createDefaultSettings,
  defaultSettings,
  isCloakTimeoutSeconds,
  isSiteSettingsPatch,
  parseSettings,
  siteKeyForHost,
  siteKeyForUrl,
  siteSettingsFor,
} from '../../../src/shared/settings.ts';

describe('defaults', () => {
  test('every builtin site is protected at medium strength; other sites are off', () => {
    const settings = createDefaultSettings();
    assert.deepEqual(Object.keys(settings.sites), [...BUILTIN_SITES]);
    for (const site of BUILTIN_SITES) assert.deepEqual(settings.sites[site], { enabled: true, strength: 'mid' });
    assert.deepEqual(settings.otherSites, { enabled: false, strength: 'mid' });
    assert.equal(settings.cloakTimeoutSeconds, CLOAK_TIMEOUT_SECONDS.default);
    assert.equal(settings.version, SETTINGS_VERSION);
  });

  test('createDefaultSettings returns an independent copy', () => {
    const settings = createDefaultSettings();
    settings.sites['x.com'].enabled = false;
    settings.sites['example.org'] = { enabled: true, strength: 'high' };
    assert.equal(defaultSettings.sites['x.com'].enabled, true);
    assert.equal(createDefaultSettings().sites['example.org'], undefined);
  });

  test('the builtin sites are exactly the manifest host permissions and content script matches', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../../manifest.json', import.meta.url), 'utf8'));
    const patterns = BUILTIN_SITES.map((site) => `https://*.${site}/*`);
    assert.deepEqual(manifest.host_permissions, patterns);
    for (const script of manifest.content_scripts) assert.deepEqual(script.matches, patterns);
  });
});

describe('parseSettings', () => {
  test('nothing stored: the defaults, nothing to write', () => {
    assert.deepEqual(parseSettings(undefined), { settings: createDefaultSettings(), needsWrite: false });
  });

  test('something that is not settings at all: the defaults, written over it', () => {
    for (const raw of ['settings', 42, null, [1, 2]]) {
      assert.deepEqual(parseSettings(raw), { settings: createDefaultSettings(), needsWrite: true });
    }
  });

  test('keeps every valid value and replaces only the invalid ones', () => {
    const { settings, needsWrite } = parseSettings({
      version: 1,
      sites: {
        'x.com': { enabled: false, strength: 'extreme' },
        'reddit.com': { enabled: 'yes', strength: 'high' },
        'WWW.Example.org': { enabled: true, strength: 'low' },
        'not a host': { enabled: true, strength: 'low' },
      },
      otherSites: { enabled: true },
      unknownField: 1,
    });
    assert.equal(needsWrite, false);
    assert.deepEqual(settings.sites['x.com'], { enabled: false, strength: 'mid' });
    assert.deepEqual(settings.sites['reddit.com'], { enabled: true, strength: 'high' });
    assert.deepEqual(settings.sites['example.org'], { enabled: true, strength: 'low' });
    assert.equal(settings.sites['not a host'], undefined);
    assert.deepEqual(settings.otherSites, { enabled: true, strength: 'mid' });
    assert.equal('unknownField' in settings, false);
  });

  test('cloakTimeoutSeconds: whole seconds within bounds are kept, anything else is the default', () => {
    for (const seconds of [1, 30, 3600]) {
      assert.equal(parseSettings({ version: 1, cloakTimeoutSeconds: seconds }).settings.cloakTimeoutSeconds, seconds);
    }
    for (const seconds of [0, -1, 2.5, 3601, '60', null, Number.POSITIVE_INFINITY]) {
      const { settings } = parseSettings({ version: 1, cloakTimeoutSeconds: seconds, otherSites: { enabled: true } });
      assert.equal(settings.cloakTimeoutSeconds, CLOAK_TIMEOUT_SECONDS.default, String(seconds));
      assert.equal(settings.otherSites.enabled, true, 'one bad value keeps the others');
    }
    // Stored before the field existed: the default, and nothing to write.
    assert.deepEqual(parseSettings({ version: 1, sites: {} }).settings.cloakTimeoutSeconds, CLOAK_TIMEOUT_SECONDS.default);
    assert.equal(isCloakTimeoutSeconds(CLOAK_TIMEOUT_SECONDS.min), true);
    assert.equal(isCloakTimeoutSeconds(CLOAK_TIMEOUT_SECONDS.min - 1), false);
  });

  test('a new site entry starts from the other-sites settings', () => {
    const { settings } = parseSettings({ version: 1, sites: { 'example.org': { strength: 'high' } } });
    assert.deepEqual(settings.sites['example.org'], { enabled: false, strength: 'high' });
  });

  test('runs the migrations in order from the stored version, without mutating the input', () => {
    const migrations: SettingsMigration[] = [
      {
        from: 1,
        note: 'v2 renames level to strength',
        migrate: ({ sites, ...rest }) => ({
          ...rest,
          sites: Object.fromEntries(
            Object.entries(sites as Record<string, { on: boolean; level: string }>).map(([site, s]) => [
              site,
              { on: s.on, strength: s.level },
            ]),
          ),
        }),
      },
      {
        from: 0,
        note: 'v1 renamed nothing, only numbered the shape',
        migrate: (old) => ({ ...old }),
      },
      {
        from: 2,
        note: 'v3 renames on to enabled',
        migrate: ({ sites, ...rest }) => ({
          ...rest,
          sites: Object.fromEntries(
            Object.entries(sites as Record<string, { on: boolean; strength: string }>).map(([site, s]) => [
              site,
              { enabled: s.on, strength: s.strength },
            ]),
          ),
        }),
      },
    ];
    const stored = { version: 1, sites: { 'x.com': { on: false, level: 'high' } } };
    const copy = structuredClone(stored);
    const { settings, needsWrite } = parseSettings(stored, migrations, 3);
    assert.equal(needsWrite, true);
    assert.equal(settings.version, 3);
    assert.deepEqual(settings.sites['x.com'], { enabled: false, strength: 'high' });
    assert.deepEqual(stored, copy);

    // Unversioned data counts as version 0 and goes through the whole chain.
    const fromZero = parseSettings({ sites: { 'x.com': { on: true, level: 'low' } } }, migrations, 3);
    assert.deepEqual(fromZero.settings.sites['x.com'], { enabled: true, strength: 'low' });
  });

  test('data from a newer version is read as well as possible and never written back', () => {
    const { settings, needsWrite } = parseSettings({
      version: SETTINGS_VERSION + 1,
      sites: { 'x.com': { enabled: false, strength: 'low', futureField: true } },
    });
    assert.equal(needsWrite, false);
    assert.deepEqual(settings.sites['x.com'], { enabled: false, strength: 'low' });
  });
});

describe('site keys', () => {
  test('subdomains of builtin sites map to the site', () => {
    assert.equal(siteKeyForHost('m.facebook.com'), 'facebook.com');
    assert.equal(siteKeyForHost('old.reddit.com'), 'reddit.com');
    assert.equal(siteKeyForHost('www.linkedin.com'), 'linkedin.com');
    assert.equal(siteKeyForHost('X.COM.'), 'x.com');
  });

  test('other hosts are their own key, without www.; look-alikes are not builtin sites', () => {
    assert.equal(siteKeyForHost('www.example.org'), 'example.org');
    assert.equal(siteKeyForHost('notx.com'), 'notx.com');
    assert.equal(siteKeyForHost('x.com.evil.example'), 'x.com.evil.example');
  });

  test('no key for things that are not public host names', () => {
    for (const host of ['localhost', '', 'a b.com', '[::1]']) assert.equal(siteKeyForHost(host), null, host);
  });

  test('from URLs: web pages only', () => {
    assert.equal(siteKeyForUrl('https://x.com/compose/post'), 'x.com');
    assert.equal(siteKeyForUrl('http://www.example.org:8080/a'), 'example.org');
    for (const url of ['chrome://extensions', 'chrome-extension://abc/popup.html', 'file:///tmp/a.jpg', 'nonsense', undefined]) {
      assert.equal(siteKeyForUrl(url), null, String(url));
    }
  });

  test('siteSettingsFor falls back to the other-sites settings and returns a copy', () => {
    const settings = createDefaultSettings();
    assert.deepEqual(siteSettingsFor(settings, 'example.org'), { enabled: false, strength: 'mid' });
    siteSettingsFor(settings, 'x.com').enabled = false;
    assert.equal(settings.sites['x.com'].enabled, true);
  });
});

test('isSiteSettingsPatch accepts partial valid patches only', () => {
  assert.equal(isSiteSettingsPatch({}), true);
  assert.equal(isSiteSettingsPatch({ enabled: false }), true);
  assert.equal(isSiteSettingsPatch({ strength: 'high' }), true);
  assert.equal(isSiteSettingsPatch({ enabled: 'false' }), false);
  assert.equal(isSiteSettingsPatch({ strength: 'max' }), false);
  assert.equal(isSiteSettingsPatch({ enabled: true, admin: true }), false);
  assert.equal(isSiteSettingsPatch(null), false);
});

describe('general settings (options page)', () => {
  test('recentCloaksDays and onCloakFailure: defaults, valid values kept, invalid ones defaulted', () => {
    const defaults = createDefaultSettings();
    assert.equal(defaults.recentCloaksDays, 7);
    assert.equal(defaults.onCloakFailure, 'ask');
    const kept = parseSettings({ version: 1, recentCloaksDays: 0, onCloakFailure: 'original' }).settings;
    assert.equal(kept.recentCloaksDays, 0);
    assert.equal(kept.onCloakFailure, 'original');
    const bad = parseSettings({ version: 1, recentCloaksDays: 5, onCloakFailure: 'upload' }).settings;
    assert.equal(bad.recentCloaksDays, 7);
    assert.equal(bad.onCloakFailure, 'ask');
  });

  test('isGeneralSettingsPatch accepts valid partial patches only', () => {
    assert.ok(isGeneralSettingsPatch({}));
    assert.ok(isGeneralSettingsPatch({ recentCloaksDays: 30, onCloakFailure: 'cancel' }));
    assert.ok(isGeneralSettingsPatch({ otherSites: { enabled: true, strength: 'high' }, cloakTimeoutSeconds: 60 }));
    assert.ok(!isGeneralSettingsPatch({ recentCloaksDays: 3 }));
    assert.ok(!isGeneralSettingsPatch({ onCloakFailure: 'silently' }));
    assert.ok(!isGeneralSettingsPatch({ otherSites: { enabled: true } }));
    assert.ok(!isGeneralSettingsPatch({ otherSites: { enabled: true, strength: 'mid', extra: 1 } }));
    assert.ok(!isGeneralSettingsPatch({ cloakTimeoutSeconds: 0 }));
    assert.ok(!isGeneralSettingsPatch({ sites: {} }));
    assert.ok(!isGeneralSettingsPatch(null));
  });
});
