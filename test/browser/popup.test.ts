/**
 * The popup on the built extension (dist/chromium from `npm run build`; this file builds nothing), opened as a page
 * with `popup.html?tabId=N` for a routed site tab: it renders, its settings persist, a site that is off or lacks
 * access can be turned on with one click, and after a real cloak of a real face photo (through the cloak port, as the
 * protect page sends it) the recent cloak appears live with the protection matrix showing the numbers the engine
 * stored. Screenshots (light and dark, popup width) go to test-results/screenshots/.
 *
 * Permission prompts: Playwright cannot click the browser's permission dialog, and without activeTab (granted only by
 * clicking the toolbar button) the popup cannot see a non-builtin tab's URL. The enable-site test therefore replaces
 * `chrome.tabs.get` (to reveal the tab's URL, as activeTab would) and `chrome.permissions.request` (to answer the
 * dialog) in the popup page, and checks what the popup asked for and what it stored.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { CloakSummary } from '../../src/shared/messages.ts';
import type { RecentCloak } from '../../src/shared/recent-cloaks.ts';
import type { Settings } from '../../src/shared/settings.ts';
import { sharedFacesDir } from '../support/photos.ts';
import { type ExtensionHarness, launchExtension } from './harness.ts';

/** One face of about 80 px in a 475x343 photo: a short cloak. */
const PHOTO = 'jurassic/laura_dern/08.jpg';
const SCREENSHOTS = fileURLToPath(new URL('../../test-results/screenshots/', import.meta.url));
const POPUP_VIEWPORT = { width: 380, height: 600 };
const SITE_HTML = '<!doctype html><html><head><title>site fixture</title></head><body><p>compose</p></body></html>';

describe('popup (dist/chromium)', () => {
  let h: ExtensionHarness;
  let xTab: Page;

  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    h = await launchExtension({ browserBuild: 'chromium' });
    for (const pattern of ['https://x.com/**', 'https://example.org/**']) {
      await h.context.route(pattern, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: SITE_HTML }));
    }
    xTab = await h.context.newPage();
    await xTab.goto('https://x.com/compose/post');
  });

  after(async () => {
    await h?.close();
  });

  async function openPopup(tabId: number, colorScheme: 'light' | 'dark' = 'light'): Promise<Page> {
    const page = await h.context.newPage();
    await page.setViewportSize(POPUP_VIEWPORT);
    await page.emulateMedia({ colorScheme });
    await page.goto(`${h.baseUrl}popup.html?tabId=${tabId}`);
    await page.getByTestId('site').waitFor();
    return page;
  }

  async function storedSettings(): Promise<Settings> {
    return (await h.serviceWorker.evaluate(async () => (await chrome.storage.local.get('settings')).settings)) as Settings;
  }

  async function storedRecords(): Promise<RecentCloak[] | undefined> {
    return (await h.serviceWorker.evaluate(async () => (await chrome.storage.local.get('recentCloaks')).recentCloaks)) as
      | RecentCloak[]
      | undefined;
  }

  test('renders the site, what each strength costs, the engine and an empty recent list', { timeout: 150_000 }, async () => {
    const popup = await openPopup(await h.tabIdOf(xTab));
    assert.equal(await popup.getByTestId('site').textContent(), 'x.com');
    assert.match((await popup.getByTestId('site-state').textContent()) ?? '', /cloaked first/);
    assert.equal(await popup.getByRole('checkbox', { name: 'Protect photos I upload here' }).isChecked(), true);
    for (const [name, pattern] of [['Low', /faint.*~8 s a face/], ['Medium', /~16 s a face/], ['High', /visible grain.*~16 s/]] as const) {
      const radio = popup.getByRole('radio', { name, exact: true });
      // The cost line is the radio's accessible description, so a screen reader reads it with the choice.
      const description = await radio.evaluate((el) => document.getElementById(el.getAttribute('aria-describedby') ?? '')?.textContent);
      assert.match(description ?? '', pattern);
    }
    await popup.waitForFunction(() => !document.querySelector('[data-testid=engine]')?.textContent?.includes('starting'), undefined, {
      timeout: 120_000,
    });
    assert.match((await popup.getByTestId('engine').textContent()) ?? '', /^Engine: (webgpu|webgl|wasm|cpu)$/);
    assert.match((await popup.getByTestId('models').textContent()) ?? '', /^Models loaded: /);
    assert.equal(await popup.getByTestId('no-recent').isVisible(), true);
    assert.equal(await popup.getByRole('button', { name: 'Clear' }).isDisabled(), true);
    const options = popup.getByRole('link', { name: 'change how long' });
    assert.equal(await options.getAttribute('href'), `${h.baseUrl}options.html`);
    await popup.close();
  });

  test('site switch and strength persist across a popup reload', async () => {
    const popup = await openPopup(await h.tabIdOf(xTab));
    const enabled = popup.getByRole('checkbox', { name: 'Protect photos I upload here' });
    await popup.getByRole('radio', { name: 'Low', exact: true }).check();
    await enabled.uncheck();
    await popup.locator('section[aria-busy="false"]').waitFor();
    // Off: the popup says so plainly and offers the way back.
    assert.match((await popup.getByTestId('site-state').textContent()) ?? '', /Not protected/);
    assert.equal(await popup.getByRole('button', { name: 'Protect photos on x.com' }).isVisible(), true);

    await popup.reload();
    await enabled.waitFor();
    assert.equal(await enabled.isChecked(), false);
    assert.equal(await popup.getByRole('radio', { name: 'Low', exact: true }).isChecked(), true);
    assert.deepEqual((await storedSettings()).sites['x.com'], { enabled: false, strength: 'low' });

    // One click turns it back on (x.com's access ships with the extension: no permission asked).
    await popup.getByRole('button', { name: 'Protect photos on x.com' }).click();
    await popup.getByTestId('site-state').filter({ hasText: 'cloaked first' }).waitFor();
    await popup.reload();
    await enabled.waitFor();
    assert.equal(await enabled.isChecked(), true);
    assert.deepEqual((await storedSettings()).sites['x.com'], { enabled: true, strength: 'low' });
    await popup.close();
  });

  test('a site without access: one click asks for its host permission, then turns it on', async () => {
    // Opened by the extension: the harness finds tabs by URL, which it cannot see on a site without access.
    const tabId = await h.serviceWorker.evaluate(
      async () => (await chrome.tabs.create({ url: 'https://example.org/post', active: false })).id!,
    );

    const popup = await h.context.newPage();
    await popup.setViewportSize(POPUP_VIEWPORT);
    // Stand-ins for what Playwright cannot do (see the header): activeTab's URL, and the answer to the prompt, read
    // from window.permissionAnswer at the time of the request. A string: tsx's helpers do not exist in the page.
    await popup.addInitScript(`(() => {
      window.permissionRequests = [];
      window.permissionAnswer = false;
      const realGet = chrome.tabs.get.bind(chrome.tabs);
      chrome.tabs.get = async (tabId) => {
        const tab = await realGet(tabId);
        return tabId === ${tabId} && !tab.url ? { ...tab, url: 'https://example.org/post' } : tab;
      };
      chrome.permissions.request = async (request) => {
        window.permissionRequests.push(request);
        return window.permissionAnswer;
      };
    })()`);
    await popup.goto(`${h.baseUrl}popup.html?tabId=${tabId}`);
    await popup.getByTestId('site').waitFor();
    assert.equal(await popup.getByTestId('site').textContent(), 'example.org');
    const state = popup.getByTestId('site-state');
    await state.waitFor();
    assert.match((await state.textContent()) ?? '', /Not protected.*no access/);
    for (const scheme of ['light', 'dark'] as const) {
      await popup.emulateMedia({ colorScheme: scheme });
      await popup.screenshot({ path: join(SCREENSHOTS, `popup-site-without-access-${scheme}.png`) });
    }

    const button = popup.getByRole('button', { name: 'Protect photos on example.org' });
    // Refused: the popup says so and stores nothing.
    await button.click();
    await popup.getByRole('alert').filter({ hasText: 'did not give Face Cloak access' }).waitFor();
    assert.equal((await storedSettings()).sites['example.org'], undefined);

    // Granted: the site is on.
    await popup.evaluate(() => ((window as unknown as { permissionAnswer: boolean }).permissionAnswer = true));
    await button.click();
    await state.filter({ hasText: 'cloaked first' }).waitFor();
    assert.match((await state.textContent()) ?? '', /Reload the page/);
    assert.deepEqual(await popup.evaluate(() => (window as unknown as { permissionRequests: unknown[] }).permissionRequests), [
      { origins: ['https://*.example.org/*'] },
      { origins: ['https://*.example.org/*'] },
    ]);
    assert.equal(await popup.getByRole('checkbox', { name: 'Protect photos I upload here' }).isChecked(), true);
    assert.deepEqual((await storedSettings()).sites['example.org'], { enabled: true, strength: 'mid' });
    await popup.close();
    await h.serviceWorker.evaluate((id) => chrome.tabs.remove(id), tabId);
  });

  test('after a real cloak, the recent cloak and its matrix show the stored estimate', { timeout: 420_000 }, async (t) => {
    const bytes = await readFile(join(sharedFacesDir, PHOTO));
    // The popup stays open through the cloak: the record must appear, then its estimate, without a reload.
    const popup = await openPopup(await h.tabIdOf(xTab));
    const cloaker = await h.openExtensionPage('explainer.html');
    const started = performance.now();
    const summary = await cloakThroughPort(cloaker, bytes.toString('base64'), bytes.length);
    t.diagnostic(`cloak: ${Math.round(performance.now() - started)} ms, ${summary.faces.length} face(s)`);
    await cloaker.close();
    assert.equal(summary.unchanged, false);
    assert.ok(summary.recordId, 'the cloak was recorded');

    const item = popup.locator(`[data-record-id="${summary.recordId}"]`);
    await item.waitFor({ timeout: 30_000 });

    // The estimate runs once no cloak waits: held-out recognizers x five defenses, a few seconds to a minute here.
    let record: RecentCloak | undefined;
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline) {
      record = (await storedRecords())?.find((r) => r.id === summary.recordId);
      if (record && record.estimate.state !== 'pending') break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    t.diagnostic(`estimate: ${record?.estimate.state} after ${Math.round(performance.now() - started)} ms`);
    assert.ok(record, 'the record is stored');
    assert.equal(record.estimate.state, 'done', JSON.stringify(record.estimate));
    if (record.estimate.state !== 'done') return;
    const estimate = record.estimate.value;
    assert.ok(estimate.faces > 0, 'the estimate judged the face');
    assert.ok(estimate.recognizers.some((r) => !r.seenByCloak), 'a recognizer was held out');
    assert.notEqual(estimate.heldOutProtection, null);

    // Facts of the record.
    assert.equal(await item.locator('img[alt="Before"]').getAttribute('src'), record.before);
    assert.equal(await item.locator('img[alt="After, cloaked"]').getAttribute('src'), record.after);
    const facts = (await item.getByTestId('record-facts').textContent()) ?? '';
    assert.match(facts, new RegExp(`^${record.faces} faces? `));
    assert.match(facts, new RegExp(`· ${(record.totalMs < 10_000 ? (record.totalMs / 1000).toFixed(1) : Math.round(record.totalMs / 1000))} s ·`));
    assert.match((await item.locator('.where').textContent()) ?? '', /laura\.jpg · protect page/);

    // The engine line followed: the models the cloak and the estimate loaded are listed.
    await popup.getByTestId('models').filter({ hasText: 'face detector' }).waitFor({ timeout: 30_000 });
    const judges: Record<string, string> = {
      'faceapi-resnet': 'face-api ResNet',
      'human-mobileface': 'MobileFace',
      'faceplugin-mobilefacenet': 'faceplugin MobileFaceNet',
    };
    for (const { id } of estimate.recognizers.filter((r) => !r.seenByCloak)) {
      // A whole name of the comma-separated list ("MobileFace" must not be found inside "MobileFaceNet").
      const name = new RegExp(`[:,] ${judges[id] ?? id}(,|$)`);
      await popup.getByTestId('models').filter({ hasText: name }).waitFor({ timeout: 30_000 });
    }

    // The headline, live: the popup was never reloaded.
    const headline = item.getByTestId('held-out-protection');
    await headline.waitFor({ timeout: 30_000 });
    assert.equal(await headline.textContent(), `${Math.round(estimate.heldOutProtection! * 100)} %`);
    assert.match((await item.locator('.fc-headline-note').textContent()) ?? '', /never saw/);

    // Collapsed in the popup; the expand control works from the keyboard.
    const toggle = item.getByRole('button', { name: 'Show each recognizer and defense' });
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    assert.equal(await item.getByRole('table').isVisible(), false);
    await toggle.focus();
    await popup.keyboard.press('Enter');
    assert.equal(await item.getByRole('button', { name: 'Hide details' }).getAttribute('aria-expanded'), 'true');
    const table = item.getByRole('table');
    assert.equal(await table.isVisible(), true);

    // Column headers: the corner, then one per defense, in the estimate's order.
    const columns = await table.locator('thead th[scope="col"]').allTextContents();
    assert.deepEqual(columns, ['Recognizer', ...estimate.defenses.map((d) => d.label)]);
    // Every recognizer a row, in its group, every cell the stored numbers.
    for (const recognizer of estimate.recognizers) {
      const row = table.locator(`tr[data-recognizer="${recognizer.id}"]`);
      assert.equal(await row.getAttribute('data-seen-by-cloak'), String(recognizer.seenByCloak));
      const group = await row.evaluate((tr) => tr.closest('tbody')?.querySelector('th[scope="rowgroup"]')?.textContent);
      assert.match(group ?? '', recognizer.seenByCloak ? /Optimised against: not evidence/ : /Never seen by the cloak/);
      assert.match((await row.locator('th[scope="row"]').textContent()) ?? '', new RegExp(`^${recognizer.family.split(' ')[0]}`));
      for (const defense of estimate.defenses) {
        const cell = estimate.cells.find((c) => c.recognizer === recognizer.id && c.defense === defense.id);
        const text = (await row.locator(`td[data-defense="${defense.id}"]`).textContent()) ?? '';
        if (!cell || cell.faces === 0) assert.equal(text, 'n/a');
        else assert.equal(text, `${cell.protectedFaces}/${cell.faces}${Math.round((cell.protectedFaces / cell.faces) * 100)} %`);
      }
    }

    // The headline's link opens the explainer in the popup.
    await item.getByRole('link', { name: 'What this means' }).click();
    assert.equal(await popup.locator('#explainer').evaluate((d) => (d as HTMLDetailsElement).open), true);
    assert.equal(await popup.evaluate(() => document.activeElement?.matches('#explainer > summary')), true, 'focus moved');
    assert.match((await popup.locator('#explainer').textContent()) ?? '', /cannot promise/);
    await popup.locator('#explainer > summary').click(); // Closed again for the screenshots.

    for (const scheme of ['light', 'dark'] as const) {
      await popup.emulateMedia({ colorScheme: scheme });
      await popup.evaluate(() => window.scrollTo(0, 0));
      await popup.screenshot({ path: join(SCREENSHOTS, `popup-first-view-${scheme}.png`) });
      await item.scrollIntoViewIfNeeded();
      await popup.screenshot({ path: join(SCREENSHOTS, `popup-recent-cloak-${scheme}.png`) });
      await popup.screenshot({ path: join(SCREENSHOTS, `popup-full-${scheme}.png`), fullPage: true });
    }
    await popup.close();
  });

  test('Clear deletes the recent cloaks', async () => {
    assert.ok(((await storedRecords()) ?? []).length > 0, 'a record from the previous test');
    const popup = await openPopup(await h.tabIdOf(xTab));
    await popup.locator('.recent-item').first().waitFor();
    await popup.getByRole('button', { name: 'Clear' }).click();
    await popup.getByTestId('no-recent').waitFor();
    assert.equal(await popup.locator('.recent-item').count(), 0);
    assert.equal(await storedRecords(), undefined);
    await popup.close();
  });

  test('no extension context made a network request, and no page threw', () => {
    assert.deepEqual(h.networkRequests(), []);
    assert.deepEqual(h.pageErrors(), []);
  });
});

/**
 * Cloaks a photo from an extension page through the cloak port, as the protect page does ('start' with a strength and
 * a name, then base64 chunks), reads the whole output, and returns the summary.
 */
function cloakThroughPort(page: Page, base64: string, size: number): Promise<CloakSummary> {
  // A string, not a function: tsx's helpers (__name) do not exist in the page.
  return page.evaluate(`new Promise((resolve, reject) => {
    const data = ${JSON.stringify(base64)};
    const port = chrome.runtime.connect({ name: 'face-cloak:cloak' });
    let summary = null;
    let received = 0;
    const ping = setInterval(() => port.postMessage({ type: 'ping' }), 5000);
    const done = (error) => {
      clearInterval(ping);
      port.disconnect();
      if (error) reject(error); else resolve(summary);
    };
    port.onMessage.addListener((m) => {
      if (m.type === 'error') done(new Error(m.failure.message));
      else if (m.type === 'result') {
        summary = m.summary;
        if (summary.unchanged) done();
      } else if (m.type === 'chunk') {
        received += atob(m.data).length;
        if (received === summary.size) done();
      }
    });
    port.onDisconnect.addListener(() => reject(new Error('the cloak port closed')));
    port.postMessage({ type: 'start', size: ${size}, mime: 'image/jpeg', strength: 'low', name: 'laura.jpg' });
    // CLOAK_CHUNK_BYTES (4 MiB) per chunk: whole base64 quads.
    const chunk = Math.ceil((4 * 1024 * 1024) / 3) * 4;
    for (let i = 0; i < data.length; i += chunk) port.postMessage({ type: 'chunk', data: data.slice(i, i + chunk) });
  })`) as Promise<CloakSummary>;
}
