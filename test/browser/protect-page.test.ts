/**
 * The protect page (src/pages/protect/) on the built extension (dist/chromium, or FACE_CLOAK_DIST), with the real
 * engine: two files chosen at once (a face photo from ../shared/faces, read in place, and a face-less PNG made in a
 * temp folder) plus one that is not an image; both photos finish; the cloaked download keeps size and format and
 * differs in the face regions the engine reports, far more than elsewhere; the face-less one downloads unchanged;
 * the ZIP holds both, byte for byte (checked with Info-ZIP's unzip); the protection matrix shows the numbers of the
 * recent-cloaks record once its estimate is done. Then: the comparison from the keyboard, a bad file's error and
 * retry, the estimate's absence when recent cloaks are not kept, and "Protect image" on a fixture page's image
 * opening this page with the result. Screenshots (light, dark, narrow) go to test-results/screenshots/.
 *
 * Strength 'low' and one small face keep the cloaks short; under load a cloak still takes 10-40 s, the estimate more.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Download, Locator, Page } from 'playwright-core';
import sharp from 'sharp';
import { decodeImageNode } from '../../src/engine/image/decode-node.ts';
import type { DecodedImage } from '../../src/engine/image/types.ts';
import type { RecentCloak } from '../../src/shared/recent-cloaks.ts';
import type { Settings } from '../../src/shared/settings.ts';
import { sharedFacesDir } from '../support/photos.ts';
import { type ExtensionHarness, launchExtension } from './harness.ts';
import { dropFiles } from './upload-support.ts';

const screenshots = fileURLToPath(new URL('../../test-results/screenshots/', import.meta.url));
/** One face of about 80 px in a 475x343 JPEG (as in cloak-service.test.ts). */
const FACE_PHOTO = join(sharedFacesDir, 'jurassic/laura_dern/08.jpg');
const CLOAK_TIMEOUT_MS = 240_000;
const ESTIMATE_TIMEOUT_MS = 300_000;

type Region = { x: number; y: number; width: number; height: number };

describe('protect page (dist/chromium)', () => {
  let h: ExtensionHarness;
  let page: Page;
  let dir: string;
  let wallPath: string;
  let faceBytes: Uint8Array;

  const item = (name: string) => page.getByTestId('item').filter({ has: page.getByRole('heading', { name, exact: true }) });
  const saved = async (download: Download) => new Uint8Array(await readFile((await download.path())!));
  const downloadOf = async (target: Page, locator: Locator) => {
    const [download] = await Promise.all([target.waitForEvent('download'), locator.click()]);
    return download;
  };
  const settings = async () =>
    (await h.serviceWorker.evaluate(async () => (await chrome.storage.local.get('settings')).settings)) as Settings | undefined;

  before(async () => {
    mkdirSync(screenshots, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'face-cloak-protect-'));
    faceBytes = new Uint8Array(await readFile(FACE_PHOTO));
    // A face-less photo: flat colour with a gradient, as PNG.
    wallPath = join(dir, 'wall.png');
    const { data, info } = await sharp({ create: { width: 320, height: 200, channels: 3, background: '#4a7a9c' } })
      .raw()
      .toBuffer({ resolveWithObject: true });
    for (let i = 0; i < data.length; i += 3) data[i] = (i / 3) % 320;
    await sharp(data, { raw: info }).png().toFile(wallPath);
    await writeFile(join(dir, 'notes.txt'), 'not a photo');

    h = await launchExtension({ browserBuild: 'chromium' });
    page = await h.openExtensionPage('protect.html');
    await page.setViewportSize({ width: 1100, height: 900 });
  });

  after(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('two photos at once: both finish, downloads keep size and format, the cloak is in the faces, ZIP holds both', { timeout: CLOAK_TIMEOUT_MS * 2 }, async (t) => {
    await page.getByRole('radio', { name: /^Low/ }).check();
    await page.getByTestId('file-input').setInputFiles([FACE_PHOTO, wallPath, join(dir, 'notes.txt')]);

    // The text file is refused with a reason, at once.
    assert.match((await item('notes.txt').getByTestId('status').textContent()) ?? '', /Not added: Not an image/);
    // Progress is shown while it works.
    await item('08.jpg').getByText(/Queued|Looking for faces|Cloaking face 1 of 1, step \d+\/\d+|Encoding/).first().waitFor();
    await page.screenshot({ path: join(screenshots, 'protect-working-light.png'), fullPage: true });

    const started = performance.now();
    await item('08.jpg').and(page.locator('[data-state="done"]')).waitFor({ timeout: CLOAK_TIMEOUT_MS });
    await item('wall.png').and(page.locator('[data-state="done"]')).waitFor({ timeout: CLOAK_TIMEOUT_MS });
    t.diagnostic(`both done ${Math.round(performance.now() - started)} ms after the first was seen working`);
    assert.match((await item('08.jpg').getByTestId('status').textContent()) ?? '', /Protected: 1 face cloaked/);
    assert.match((await item('wall.png').getByTestId('status').textContent()) ?? '', /No face found: unchanged/);
    assert.match((await page.getByTestId('summary').textContent()) ?? '', /2 of 3 ready/);

    // The cloaked photo: same size and format, "-cloaked" name; the face regions changed far more than the rest.
    const cloakedDownload = await downloadOf(page, item('08.jpg').getByTestId('download'));
    assert.equal(cloakedDownload.suggestedFilename(), '08-cloaked.jpg');
    const cloakedBytes = await saved(cloakedDownload);
    const [original, cloaked] = await Promise.all([decodeImageNode(faceBytes), decodeImageNode(cloakedBytes)]);
    assert.equal(cloaked.format, 'jpeg');
    assert.deepEqual([cloaked.width, cloaked.height], [original.width, original.height]);
    const regions = JSON.parse((await item('08.jpg').getAttribute('data-regions'))!) as Region[];
    assert.equal(regions.length, 1);
    const { inside, outside } = meanDifference(original, cloaked, regions);
    t.diagnostic(`mean |difference| per channel: face region ${inside.toFixed(2)}, elsewhere ${outside.toFixed(2)}`);
    assert.ok(inside > 1.5, `the face region barely changed (${inside})`);
    assert.ok(inside > 3 * outside, `the change is not in the face (${inside} inside, ${outside} elsewhere: JPEG noise)`);

    // Copy to clipboard: the cloaked photo as a PNG of the same size (the async clipboard takes PNG only), and the
    // pixels are the cloaked ones, not the original's.
    await h.context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await item('08.jpg').getByRole('button', { name: 'Copy to clipboard' }).click();
    await item('08.jpg').getByText(/^Copied/).waitFor();
    const copied = await page.evaluate(async () => {
      const [entry] = await navigator.clipboard.read();
      const blob = await entry.getType('image/png');
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let binary = '';
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(binary);
    });
    const pasted = await decodeImageNode(new Uint8Array(Buffer.from(copied, 'base64')));
    assert.deepEqual([pasted.width, pasted.height], [original.width, original.height]);
    const fromClipboard = meanDifference(cloaked, pasted, regions);
    assert.ok(fromClipboard.inside < 1 && fromClipboard.outside < 1, `the clipboard holds the cloaked photo (${fromClipboard.inside})`);

    // The face-less photo: its own name and bytes.
    const wallDownload = await downloadOf(page, item('wall.png').getByTestId('download'));
    assert.equal(wallDownload.suggestedFilename(), 'wall.png');
    const wallBytes = await saved(wallDownload);
    assert.deepEqual(wallBytes, new Uint8Array(await readFile(wallPath)));

    // All as a ZIP: both files, byte for byte, in a valid archive.
    const zipDownload = await downloadOf(page, page.getByRole('button', { name: 'Download all (2) as ZIP' }));
    assert.match(zipDownload.suggestedFilename(), /^cloaked-photos-\d{4}-\d{2}-\d{2}\.zip$/);
    const zipPath = join(dir, 'all.zip');
    await writeFile(zipPath, await saved(zipDownload));
    const tested = spawnSync('unzip', ['-t', zipPath], { encoding: 'utf8' });
    if (tested.error) {
      t.diagnostic('no unzip here: the archive is only checked by test/unit/pages/zip.test.ts');
    } else {
      assert.equal(tested.status, 0, tested.stdout + tested.stderr);
      const out = join(dir, 'unzipped');
      assert.equal(spawnSync('unzip', ['-q', zipPath, '-d', out]).status, 0);
      assert.deepEqual(new Uint8Array(await readFile(join(out, '08-cloaked.jpg'))), cloakedBytes);
      assert.deepEqual(new Uint8Array(await readFile(join(out, 'wall.png'))), wallBytes);
      const listed = spawnSync('unzip', ['-Z1', zipPath], { encoding: 'utf8' }).stdout.trim().split('\n');
      assert.deepEqual(listed, ['08-cloaked.jpg', 'wall.png']);
    }
    await page.screenshot({ path: join(screenshots, 'protect-done-light.png'), fullPage: true });
  });

  test('the protection matrix shows the recent-cloaks record\'s numbers once the estimate is done', { timeout: ESTIMATE_TIMEOUT_MS }, async () => {
    const estimate = item('08.jpg').getByTestId('estimate');
    const headline = estimate.getByTestId('held-out-protection');
    await headline.waitFor({ timeout: ESTIMATE_TIMEOUT_MS });
    const records = (await h.serviceWorker.evaluate(
      async () => (await chrome.storage.local.get('recentCloaks')).recentCloaks,
    )) as RecentCloak[];
    const record = records.find((r) => r.fileName === '08.jpg');
    assert.ok(record, 'the cloak was recorded with its file name');
    assert.equal(record.source, 'protect-page');
    assert.equal(record.estimate.state, 'done');
    if (record.estimate.state !== 'done') return;
    const value = record.estimate.value;
    assert.equal(await headline.textContent(), formatShare(value.heldOutProtection));
    assert.match((await headline.textContent()) ?? '', /^\d+ %$/, 'a real number, not n/a');
    // Every recognizer x defense cell is there with the record's counts.
    const cells = estimate.locator('td.fc-cell');
    assert.equal(await cells.count(), value.recognizers.length * value.defenses.length);
    for (const cell of value.cells) {
      const shown = estimate.locator(`tr[data-recognizer="${cell.recognizer}"] td[data-defense="${cell.defense}"]`);
      const text = (await shown.textContent()) ?? '';
      if (cell.faces > 0) assert.ok(text.startsWith(`${cell.protectedFaces}/${cell.faces}`), `${cell.recognizer} ${cell.defense}: ${text}`);
    }
    await item('08.jpg').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(screenshots, 'protect-estimate-light.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: join(screenshots, 'protect-estimate-dark.png'), fullPage: true });
    await page.setViewportSize({ width: 380, height: 800 });
    await page.screenshot({ path: join(screenshots, 'protect-narrow-dark.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1100, height: 900 });
  });

  test('the comparison works from the keyboard: zoom, pan, split, side by side', async () => {
    await page.setViewportSize({ width: 600, height: 800 }); // So that the photo at 200 % overflows its view.
    const card = item('08.jpg');
    const view = card.locator('.compare-view').first();
    await view.focus();
    await page.keyboard.press('+');
    assert.equal(await card.getByRole('radio', { name: '100 %' }).isChecked(), true);
    await page.keyboard.press('+');
    assert.equal(await card.getByRole('radio', { name: '200 %' }).isChecked(), true);
    // At 200 % the 475 px photo is wider than the view: arrow keys pan it.
    const scrollLeft = () => view.evaluate((el) => el.scrollLeft);
    const left = await scrollLeft();
    await page.keyboard.press('ArrowRight');
    const right = await scrollLeft();
    assert.ok(right > left, `ArrowRight panned (${left} -> ${right})`);
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    assert.ok((await scrollLeft()) < right, 'ArrowLeft panned back');
    await page.screenshot({ path: join(screenshots, 'protect-zoom-200-light.png'), clip: (await card.boundingBox())! });
    await page.keyboard.press('-');
    await page.keyboard.press('-');
    assert.equal(await card.getByRole('radio', { name: 'Fit' }).isChecked(), true);

    const split = card.getByRole('slider', { name: /Split between before and after/ });
    await split.focus();
    await page.keyboard.press('Home');
    assert.equal(await split.inputValue(), '0');
    assert.match((await card.locator('img.compare-after').getAttribute('style')) ?? '', /inset\(0(px)? 0(px)? 0(px)? 0%\)/);
    await page.keyboard.press('End');
    assert.equal(await split.inputValue(), '100');

    // The radio groups are reachable by keyboard too: arrow keys move within a group.
    await card.getByRole('radio', { name: 'Split' }).focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await card.getByRole('radio', { name: 'Side by side' }).isChecked(), true);
    assert.equal(await card.locator('.compare-side img').count(), 2);
    await card.getByRole('radio', { name: 'Split' }).focus();
    await page.keyboard.press('Space');
    await page.setViewportSize({ width: 1100, height: 900 });
  });

  test('a file that cannot be read fails with its reason, and Retry tries again', { timeout: 120_000 }, async () => {
    const broken = join(dir, 'broken.jpg');
    await writeFile(broken, faceBytes.slice(0, 600)); // A JPEG header, then nothing.
    await page.getByTestId('file-input').setInputFiles(broken);
    const card = item('broken.jpg');
    await card.and(page.locator('[data-state="failed"]')).waitFor({ timeout: 60_000 });
    assert.match((await card.getByTestId('status').textContent()) ?? '', /^Failed: /);
    await card.getByRole('button', { name: 'Retry' }).click();
    // It goes through the queue again, then fails the same way.
    await card.and(page.locator('[data-state="failed"]')).waitFor({ state: 'detached', timeout: 5_000 }).catch(() => undefined);
    await card.and(page.locator('[data-state="failed"]')).waitFor({ timeout: 60_000 });
    await card.getByRole('button', { name: 'Remove broken.jpg' }).click();
    await card.waitFor({ state: 'detached' });
  });

  test('photos dropped on the drop zone (a trusted drop) are added like chosen ones', { timeout: 120_000 }, async () => {
    const dropped = join(dir, 'dropped wall.png');
    await writeFile(dropped, await readFile(wallPath));
    // A drop lands where it is aimed in the viewport: bring the zone into view (earlier cards may have pushed it out).
    await page.locator('.dropzone').scrollIntoViewIfNeeded();
    const zone = await page.locator('.dropzone').boundingBox();
    assert.ok(zone, 'the drop zone is on the page');
    await dropFiles(page, [dropped], { x: zone.x + zone.width / 2, y: zone.y + zone.height / 2 });
    const card = item('dropped wall.png');
    await card.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
    assert.match((await card.getByTestId('status').textContent()) ?? '', /No face found: unchanged/);
    await card.getByRole('button', { name: 'Remove dropped wall.png' }).click();
  });

  test('without recent cloaks kept, the page says the estimate needs them', { timeout: CLOAK_TIMEOUT_MS }, async () => {
    const options = await h.openExtensionPage('options.html');
    await options.evaluate(() =>
      chrome.runtime.sendMessage({ faceCloak: 1, name: 'background:updateSettings', payload: { recentCloaksDays: 0 } }),
    );
    await options.close();
    assert.equal((await settings())?.recentCloaksDays, 0);
    try {
      const copy = join(dir, 'again.jpg');
      await writeFile(copy, faceBytes);
      await page.getByTestId('file-input').setInputFiles(copy);
      const card = item('again.jpg');
      await card.and(page.locator('[data-state="done"]')).waitFor({ timeout: CLOAK_TIMEOUT_MS });
      const estimate = card.getByTestId('estimate');
      assert.match((await estimate.textContent()) ?? '', /The estimate needs recent cloaks to be kept/);
      assert.equal(await estimate.getByRole('link', { name: /Keep recent cloaks/ }).getAttribute('href'), 'options.html#recent');
    } finally {
      const options2 = await h.openExtensionPage('options.html');
      await options2.evaluate(() =>
        chrome.runtime.sendMessage({ faceCloak: 1, name: 'background:updateSettings', payload: { recentCloaksDays: 7 } }),
      );
      await options2.close();
    }
  });

  test('"Protect image" on a page\'s image opens the protect page, which cloaks it', { timeout: CLOAK_TIMEOUT_MS + 60_000 }, async () => {
    await h.context.route('https://x.com/**', (route) =>
      route.fulfill({
        status: 200,
        contentType: 'text/html',
        body: '<!doctype html><title>x.com fixture</title><img src="/media/beach%20day.jpg?format=jpg" alt="">',
      }),
    );
    await h.context.route('https://x.com/media/beach*', (route) =>
      route.fulfill({ status: 200, contentType: 'image/jpeg', body: Buffer.from(faceBytes) }),
    );
    await h.context.route('https://x.com/media/missing*', (route) => route.fulfill({ status: 404, body: '' }));
    // The image's own site decides the strength, as the menu does.
    const caller = await h.openExtensionPage('options.html');
    await caller.evaluate(() =>
      chrome.runtime.sendMessage({ faceCloak: 1, name: 'background:setSiteSettings', payload: { site: 'x.com', patch: { strength: 'low' } } }),
    );
    const site = await h.context.newPage();
    await site.goto('https://x.com/home');
    await site.locator('img').evaluate((img: HTMLImageElement) => img.decode());
    const tabId = await h.tabIdOf(site);

    // What the context menu's click runs, through the message extension pages may send.
    const ask = (srcUrl: string) =>
      caller.evaluate(
        (payload) => chrome.runtime.sendMessage({ faceCloak: 1, name: 'background:protectImage', payload }),
        { tabId, frameId: 0, srcUrl },
      );
    const [opened, reply] = await Promise.all([
      h.context.waitForEvent('page', { predicate: (p) => p.url().includes('/protect.html') }),
      ask('https://x.com/media/beach%20day.jpg?format=jpg'),
    ]);
    assert.equal(reply.ok, true, JSON.stringify(reply));
    assert.equal(reply.result.status, 'opened', JSON.stringify(reply.result));
    assert.equal(typeof reply.result.tabId, 'number');
    const card = opened.getByTestId('item').filter({ has: opened.getByRole('heading', { name: 'beach day.jpg', exact: true }) });
    await card.waitFor();
    assert.match((await card.locator('.item-head').textContent()) ?? '', /Low strength · from x\.com/);
    await card.and(opened.locator('[data-state="done"]')).waitFor({ timeout: CLOAK_TIMEOUT_MS });
    assert.doesNotMatch(opened.url(), /image=/, 'a reload does not cloak it again');
    const download = await downloadOf(opened, card.getByTestId('download'));
    assert.equal(download.suggestedFilename(), 'beach day-cloaked.jpg');
    const result = await decodeImageNode(await saved(download));
    assert.equal(result.format, 'jpeg');
    const original = await decodeImageNode(faceBytes);
    assert.deepEqual([result.width, result.height], [original.width, original.height]);
    await opened.screenshot({ path: join(screenshots, 'protect-from-menu-light.png'), fullPage: true });
    // Its recent-cloaks record says where it came from: "Protect image" on x.com.
    const records = (await h.serviceWorker.evaluate(async () =>
      (await chrome.storage.local.get('recentCloaks')).recentCloaks,
    )) as RecentCloak[];
    const fromMenu = records.find((r) => r.fileName === 'beach day.jpg');
    assert.ok(fromMenu, 'the cloak was recorded');
    assert.equal(fromMenu.source, 'protect-image');
    assert.equal(fromMenu.site, 'x.com');

    // An image the page cannot read: the protect page opens and says why.
    const [failedPage, failed] = await Promise.all([
      h.context.waitForEvent('page', { predicate: (p) => p.url().includes('/protect.html?failed=') }),
      ask('https://x.com/media/missing.png'),
    ]);
    assert.equal(failed.result.status, 'failed');
    assert.equal(failed.result.code, 'unreadable');
    await failedPage.getByRole('alert').filter({ hasText: 'Face Cloak could not read that image' }).waitFor();
    await failedPage.close();

    // A handoff that does not exist (expired, or the worker restarted): said plainly.
    const stale = await h.openExtensionPage('protect.html?image=00000000-0000-0000-0000-000000000000');
    await stale.getByRole('alert').filter({ hasText: 'no longer available' }).waitFor();
    await stale.close();
    await opened.close();
    await site.close();
    await caller.close();
  });

  test('no extension context made a network request, and no page threw', () => {
    assert.deepEqual(h.networkRequests(), []);
    assert.deepEqual(h.pageErrors(), []);
  });
});

/** As the matrix writes a share (src/ui/protection-matrix.tsx, which Node cannot import: it imports CSS). */
function formatShare(share: number | null): string {
  return share === null ? 'n/a' : `${Math.round(share * 100)} %`;
}

/** Mean absolute difference per channel inside the regions and outside them. */
function meanDifference(a: DecodedImage, b: DecodedImage, regions: Region[]): { inside: number; outside: number } {
  const channels = a.data.length / (a.width * a.height);
  let inSum = 0;
  let inCount = 0;
  let outSum = 0;
  let outCount = 0;
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      const inRegion = regions.some((r) => x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height);
      for (let c = 0; c < 3; c++) {
        const i = (y * a.width + x) * channels + c;
        const d = Math.abs(a.data[i]! - b.data[i]!);
        if (inRegion) {
          inSum += d;
          inCount++;
        } else {
          outSum += d;
          outCount++;
        }
      }
    }
  }
  return { inside: inSum / inCount, outside: outSum / Math.max(1, outCount) };
}
