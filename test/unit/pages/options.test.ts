import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exportProblem, importWarnings } from '../../../src/pages/options/import-report.ts';
import { siteFromInput } from '../../../src/pages/options/site-input.ts';
import { createDefaultSettings, parseSettings } from '../../../src/shared/settings.ts';

describe('siteFromInput', () => {
  test('host names and pasted URLs give the site key', () => {
    assert.equal(siteFromInput('example.org'), 'example.org');
    assert.equal(siteFromInput('  WWW.Example.ORG  '), 'example.org');
    assert.equal(siteFromInput('https://www.example.org/a/b?c#d'), 'example.org');
    assert.equal(siteFromInput('example.org/photos'), 'example.org');
    assert.equal(siteFromInput('example.org:8443'), 'example.org');
    assert.equal(siteFromInput('m.facebook.com'), 'facebook.com');
    assert.equal(siteFromInput('bücher.de'), 'xn--bcher-kva.de');
  });

  test('anything else is null', () => {
    for (const text of ['', '   ', 'not a site', 'localhost', 'http://', 'a b.com', 'chrome://settings']) {
      assert.equal(siteFromInput(text), null, text);
    }
  });
});

describe('import checks', () => {
  test('an export passes; other JSON does not', () => {
    assert.equal(exportProblem(createDefaultSettings()), null);
    assert.match(exportProblem([1])!, /not a settings object/);
    assert.match(exportProblem('text')!, /not a settings object/);
    assert.match(exportProblem({ theme: 'dark' })!, /no version and no sites/);
    assert.match(exportProblem({ version: 1, sites: [] })!, /no version and no sites/);
  });

  test('a clean round trip has no warnings; what parseSettings dropped is named', () => {
    const settings = createDefaultSettings();
    settings.sites['example.org'] = { enabled: false, strength: 'high' };
    assert.deepEqual(importWarnings(JSON.parse(JSON.stringify(settings)), parseSettings(settings).settings), []);
    // Key order of an object does not matter.
    const reordered = { ...settings, otherSites: { strength: 'mid', enabled: false } };
    assert.deepEqual(importWarnings(reordered, parseSettings(reordered).settings), []);

    const bad = {
      ...settings,
      version: 99,
      cloakTimeoutSeconds: 'soon',
      onCloakFailure: 'explode',
      sites: { ...settings.sites, 'not a host': { enabled: true }, 'x.com': { enabled: 'yes', strength: 'mid' } },
    };
    const warnings = importWarnings(bad, parseSettings(bad).settings);
    assert.equal(warnings.length, 5, warnings.join('\n'));
    assert.match(warnings[0]!, /newer Face Cloak \(settings version 99\)/);
    assert.ok(warnings.some((w) => /"not a host" is not a site name/.test(w)));
    assert.ok(warnings.some((w) => /^x\.com: some of its settings were not valid/.test(w)));
    assert.ok(warnings.some((w) => /^The time limit/.test(w)));
    assert.ok(warnings.some((w) => /^What happens when cloaking fails/.test(w)));
  });
});
