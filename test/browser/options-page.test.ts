/**
 * The options page (src/pages/options/) on the built extension (dist/chromium): it renders every builtin site with
 * its access, changes persist across reloads (and reach storage through the background), a site can be added and
 * removed, settings survive an export/import round trip, and a file that is not a settings export is refused with a
 * message and changes nothing. Screenshots (light, dark, narrow) go to test-results/screenshots/.
 *
 * Chromium's host-permission prompt cannot be answered in headless mode (chrome.permissions.request never settles),
 * so the add-a-site test stands in for the person's "Allow": it replaces request/contains/remove in the page with
 * ones that grant and record. What it checks is the page's flow (ask from the click, then store), not the prompt.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { BUILTIN_SITES, type Settings } from '../../src/shared/settings.ts';
import { type ExtensionHarness, launchExtension } from './harness.ts';

const screenshots = fileURLToPath(new URL('../../test-results/screenshots/', import.meta.url));

describe('options page (dist/chromium)', () => {
  let h: ExtensionHarness;
  let page: Page;

  const stored = async () =>
    (await h.serviceWorker.evaluate(async () => (await chrome.storage.local.get('settings')).settings)) as Settings | undefined;
  /** Waits until no change is in flight (the page marks itself busy while the background answers). */
  const settled = () => page.locator('.page[aria-busy="false"]').waitFor();
  const row = (site: string) => page.locator(`tr[data-site="${site}"]`);

  before(async () => {
    mkdirSync(screenshots, { recursive: true });
    h = await launchExtension({ browserBuild: 'chromium' });
    page = await h.openExtensionPage('options.html');
    await page.setViewportSize({ width: 1000, height: 900 });
  });

  after(async () => {
    await h?.close();
  });

  test('renders every builtin site with its settings and access; the manifest points at it', async () => {
    await page.getByRole('heading', { name: 'Sites' }).waitFor();
    for (const site of BUILTIN_SITES) {
      assert.equal(await page.getByRole('checkbox', { name: `Protect uploads on ${site}` }).isChecked(), true, site);
      assert.equal(await page.getByRole('combobox', { name: `Strength on ${site}` }).inputValue(), 'mid', site);
      await row(site).getByText('Allowed').waitFor(); // Builtin sites' host permissions ship with the extension.
    }
    assert.equal(await page.getByLabel('Time limit per photo').inputValue(), '180');
    assert.equal(await page.getByRole('radio', { name: /Ask me/ }).isChecked(), true);
    assert.equal(await page.getByLabel('Keep recent cloaks for').inputValue(), '7');
    const manifest = await h.serviceWorker.evaluate(() => chrome.runtime.getManifest());
    assert.equal(manifest.options_ui?.page, 'options.html');

    await page.screenshot({ path: join(screenshots, 'options-light.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: join(screenshots, 'options-dark.png'), fullPage: true });
    await page.setViewportSize({ width: 360, height: 800 });
    await page.screenshot({ path: join(screenshots, 'options-narrow-dark.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1000, height: 900 });
  });

  test('changes persist across reloads', async () => {
    await page.getByRole('checkbox', { name: 'Protect uploads on reddit.com' }).uncheck();
    await settled();
    await page.getByRole('combobox', { name: 'Strength on x.com' }).selectOption('high');
    await settled();
    await page.getByRole('checkbox', { name: 'Protect uploads on other sites' }).check();
    await settled();
    await page.getByLabel('Time limit per photo').fill('45');
    await page.getByLabel('Time limit per photo').press('Enter');
    await settled();
    await page.getByRole('radio', { name: /Cancel the upload/ }).check();
    await settled();
    await page.getByLabel('Keep recent cloaks for').selectOption('30');
    await settled();

    await page.reload();
    await page.getByRole('heading', { name: 'Sites' }).waitFor();
    assert.equal(await page.getByRole('checkbox', { name: 'Protect uploads on reddit.com' }).isChecked(), false);
    assert.equal(await page.getByRole('combobox', { name: 'Strength on x.com' }).inputValue(), 'high');
    assert.equal(await page.getByRole('checkbox', { name: 'Protect uploads on other sites' }).isChecked(), true);
    assert.equal(await page.getByLabel('Time limit per photo').inputValue(), '45');
    assert.equal(await page.getByRole('radio', { name: /Cancel the upload/ }).isChecked(), true);
    assert.equal(await page.getByLabel('Keep recent cloaks for').inputValue(), '30');
    // A changed builtin site offers to go back to its defaults.
    await row('x.com').getByRole('button', { name: 'Reset x.com to its defaults' }).waitFor();

    const settings = await stored();
    assert.deepEqual(settings?.sites['reddit.com'], { enabled: false, strength: 'mid' });
    assert.deepEqual(settings?.sites['x.com'], { enabled: true, strength: 'high' });
    assert.deepEqual(settings?.otherSites, { enabled: true, strength: 'mid' });
    assert.equal(settings?.cloakTimeoutSeconds, 45);
    assert.equal(settings?.onCloakFailure, 'cancel');
    assert.equal(settings?.recentCloaksDays, 30);

    // An invalid time limit is refused where it was typed, and nothing is stored.
    await page.getByLabel('Time limit per photo').fill('0');
    await page.getByLabel('Time limit per photo').press('Enter');
    await page.getByRole('alert').filter({ hasText: 'A whole number of seconds' }).waitFor();
    assert.equal((await stored())?.cloakTimeoutSeconds, 45);
  });

  test('add a site (asking for its permission from the click), change it, remove it', async () => {
    // See the file's header: the prompt cannot be answered headless, so the page's permission calls are stood in for.
    // A string, not a function: tsx would wrap the named arrow functions in a helper the page does not have.
    await page.evaluate(`(() => {
      const granted = new Set();
      const asked = [];
      const real = chrome.permissions;
      const contains = real.contains.bind(real);
      window.permissionAsks = asked;
      Object.defineProperty(chrome, 'permissions', {
        configurable: true,
        value: {
          onAdded: real.onAdded,
          onRemoved: real.onRemoved,
          // Records whether the page asked while the click's user activation was still there, as browsers require.
          request: async ({ origins = [] }) => {
            asked.push(origins.join(',') + ' active=' + navigator.userActivation.isActive);
            for (const origin of origins) granted.add(origin);
            return true;
          },
          contains: async (p) => (p.origins ?? []).every((origin) => granted.has(origin)) || contains(p),
          remove: async ({ origins = [] }) => {
            asked.push('removed ' + origins.join(','));
            for (const origin of origins) granted.delete(origin);
            return true;
          },
        },
      });
    })()`);

    const input = page.getByLabel('Add a site');
    await input.fill('not a site');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Type a site name' }).waitFor();

    await input.fill('https://www.Example.org/some/page');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByTestId('notice').filter({ hasText: 'Added example.org' }).waitFor();
    await settled();
    assert.deepEqual(await page.evaluate(() => (window as unknown as { permissionAsks: string[] }).permissionAsks), [
      'https://*.example.org/* active=true',
    ]);
    assert.equal(await page.getByRole('checkbox', { name: 'Protect uploads on example.org' }).isChecked(), true);
    await row('example.org').getByText('Allowed').waitFor();
    assert.deepEqual((await stored())?.sites['example.org'], { enabled: true, strength: 'mid' });

    await page.getByRole('combobox', { name: 'Strength on example.org' }).selectOption('low');
    await settled();
    await page.reload();
    await page.getByRole('combobox', { name: 'Strength on example.org' }).waitFor();
    assert.equal(await page.getByRole('combobox', { name: 'Strength on example.org' }).inputValue(), 'low');
    assert.equal(await input.inputValue(), '');
    // Added sites sort after the builtin ones.
    const order = await page.locator('tr[data-site]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-site')));
    assert.deepEqual(order, [...BUILTIN_SITES, 'example.org']);

    // Adding it again is refused where it was typed.
    await input.fill('example.org');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'already in the list' }).waitFor();

    await page.getByRole('button', { name: 'Remove example.org' }).click();
    await page.getByTestId('notice').filter({ hasText: 'Removed example.org' }).waitFor();
    await row('example.org').waitFor({ state: 'detached' });
    assert.equal((await stored())?.sites['example.org'], undefined);
    // Builtin sites cannot be removed, only reset.
    assert.equal(await page.getByRole('button', { name: 'Remove x.com' }).count(), 0);
  });

  test('export, then import the file back: the same settings', async () => {
    const before = await stored();
    assert.ok(before);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export settings' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /^face-cloak-settings-\d{4}-\d{2}-\d{2}\.json$/);
    const exported = JSON.parse(await readFile((await download.path())!, 'utf8')) as Settings;
    assert.deepEqual(exported, before);

    // Change things, then restore from the file.
    await page.getByRole('button', { name: 'Reset to defaults…' }).click();
    await page.getByRole('button', { name: 'Reset', exact: true }).click();
    await page.getByTestId('notice').filter({ hasText: 'back to their defaults' }).waitFor();
    assert.equal((await stored())?.cloakTimeoutSeconds, 180);
    assert.deepEqual((await stored())?.sites['x.com'], { enabled: true, strength: 'mid' });

    await page.getByTestId('import-input').setInputFiles((await download.path())!);
    await page.getByTestId('notice').filter({ hasText: /^Imported/ }).waitFor();
    assert.deepEqual(await stored(), before);
    await page.reload();
    await page.getByRole('combobox', { name: 'Strength on x.com' }).waitFor();
    assert.equal(await page.getByRole('combobox', { name: 'Strength on x.com' }).inputValue(), before.sites['x.com']!.strength);
    assert.equal(await page.getByLabel('Time limit per photo').inputValue(), String(before.cloakTimeoutSeconds));

    // Partly invalid: what is valid is taken, and the page says what was not.
    const dir = tmpdir();
    const partly = join(dir, 'face-cloak-partly.json');
    await writeFile(partly, JSON.stringify({ ...before, cloakTimeoutSeconds: -5, sites: { ...before.sites, 'not a host': { enabled: true } } }));
    await page.getByTestId('import-input').setInputFiles(partly);
    const notice = page.getByTestId('notice').filter({ hasText: /^Imported/ });
    await notice.waitFor();
    assert.match((await notice.textContent()) ?? '', /The time limit: the value in the file was not valid/);
    assert.match((await notice.textContent()) ?? '', /"not a host" is not a site name/);
    assert.equal((await stored())?.cloakTimeoutSeconds, 180);
  });

  test('a file that is not a settings export is refused with a message, and nothing changes', async () => {
    const before = await stored();
    const dir = tmpdir();
    const cases: [string, string, RegExp][] = [
      ['face-cloak-not-json.json', 'this is { not json', /not valid JSON/],
      ['face-cloak-array.json', '[1, 2, 3]', /not a settings object/],
      ['face-cloak-other.json', JSON.stringify({ name: 'some other app', theme: 'dark' }), /no version and no sites/],
    ];
    for (const [name, content, message] of cases) {
      const path = join(dir, name);
      await writeFile(path, content);
      await page.getByTestId('import-input').setInputFiles(path);
      const alert = page.getByRole('alert').filter({ hasText: message });
      await alert.waitFor();
      assert.match((await alert.textContent()) ?? '', /Nothing was changed/);
      assert.deepEqual(await stored(), before, name);
    }
  });

  test('clearing recent cloaks empties them', async () => {
    await h.serviceWorker.evaluate(() =>
      chrome.storage.local.set({
        recentCloaks: [
          {
            id: 'r1', source: 'protect-page', site: null, at: Date.now(), strength: 'mid', width: 10, height: 10, faces: 1,
            skippedSmallFaces: 0, totalMs: 1000, minFaceSsim: 0.9, before: 'data:image/jpeg;base64,AAAA',
            after: 'data:image/jpeg;base64,AAAA', estimate: { state: 'pending' },
          },
        ],
      }),
    );
    await page.getByTestId('recent-count').filter({ hasText: '1 kept now.' }).waitFor();
    await page.getByRole('button', { name: 'Clear recent cloaks' }).click();
    await page.getByTestId('recent-count').filter({ hasText: 'None kept now.' }).waitFor();
    assert.equal(
      await h.serviceWorker.evaluate(async () => (await chrome.storage.local.get('recentCloaks')).recentCloaks),
      undefined,
    );
  });

  test('no extension context made a network request, and no page threw', () => {
    assert.deepEqual(h.networkRequests(), []);
    assert.deepEqual(h.pageErrors(), []);
  });
});
