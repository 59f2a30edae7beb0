/**
 * Upload failure paths end to end (issue 4), on the built extension (dist/chromium; `npm run build` first) with the
 * real engine, beside upload-interception.test.ts (which covers engine error, cancel and 20 files at once):
 * - the timeout: settings' `cloakTimeoutSeconds` set to 1 s through the background, as a settings UI would (the
 *   production build, no test hook), so a photo with a face always runs out of time; the person is told why and
 *   chooses upload original, cancel, or retry (after raising the limit again);
 * - three tabs uploading at once: each page gets its own cloaked photo, under its own name, and no other tab's.
 */
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { CLOAK_TIMEOUT_SECONDS, type GeneralSettings } from '../../src/shared/settings.ts';
import type { ExtensionHarness } from './harness.ts';
import {
  SITES,
  type TestFiles,
  assertCloaked,
  assertUntouched,
  overlayElement,
  resetReceived,
  uploadSuite,
  waitForOverlay,
  waitForReceived,
} from './upload-support.ts';

describe('upload failure paths (dist/chromium, real engine)', () => {
  const suite = uploadSuite({ plainCount: 2 });
  const { open, chooseFiles, report } = suite;
  // Shorthands: valid once the suite's `before` has run.
  let h: ExtensionHarness;
  let files: TestFiles;
  before(() => {
    h = suite.h;
    files = suite.files;
  });

  /** Changes settings through the background, from an extension page (as the options page does). */
  async function updateSettings(patch: Partial<GeneralSettings>): Promise<void> {
    const page = await h.openExtensionPage('engine-lab.html');
    try {
      const reply = await page.evaluate(
        (p) => chrome.runtime.sendMessage({ faceCloak: 1, name: 'background:updateSettings', payload: p }),
        patch,
      );
      assert.equal(reply.ok, true, JSON.stringify(reply));
    } finally {
      await page.close();
    }
  }
  const setCloakTimeout = (seconds: number) => updateSettings({ cloakTimeoutSeconds: seconds });

  test('timeout: the person is told why and chooses: upload the original, cancel, or retry', { timeout: 300_000 }, async (t) => {
    await setCloakTimeout(1);
    try {
      const page = await open(SITES.x);
      const [first, second, third] = files.faces;

      // Upload the original: the page gets exactly the file it would have got without the extension.
      await chooseFiles(page, '#media', [first]);
      await waitForOverlay(page, 'face-cloak-status', new RegExp(`Could not protect “${basename(first)}”`));
      const detail = (await overlayElement(page, 'face-cloak-detail'))!.text;
      assert.match(detail, /took longer than 1 s/, 'the reason is the timeout');
      assert.match(detail, /Retry, upload it unprotected, or cancel\?/);
      assert.equal(await page.evaluate(() => window.fixture.received.length), 0, 'nothing passed on while asking');
      await (await overlayElement(page, 'face-cloak-original'))!.click();
      const [original] = await waitForReceived(page, 1);
      assert.equal(original.trusted, false, 'caught and re-dispatched');
      assertUntouched(original, first);

      // Cancel: nothing reaches the page, and the overlay goes.
      await resetReceived(page);
      await chooseFiles(page, '#media', [second]);
      await waitForOverlay(page, 'face-cloak-status', new RegExp(`Could not protect “${basename(second)}”`));
      await (await overlayElement(page, 'face-cloak-cancel'))!.click();
      await page.waitForTimeout(1000);
      assert.equal(await page.evaluate(() => window.fixture.log.length), 0, 'the page saw no event');
      assert.equal(await overlayElement(page, 'face-cloak-overlay'), null);

      // Retry after the person raised the limit: the engine is still usable after timed-out jobs, and the retry
      // reads the new limit.
      await chooseFiles(page, '#media', [third]);
      await waitForOverlay(page, 'face-cloak-status', new RegExp(`Could not protect “${basename(third)}”`));
      await setCloakTimeout(CLOAK_TIMEOUT_SECONDS.default);
      const retried = Date.now();
      await (await overlayElement(page, 'face-cloak-retry'))!.click();
      const [cloaked] = await waitForReceived(page, 1);
      const check = await assertCloaked(cloaked, third);
      report(t, 'X: retry after a timeout (face)', cloaked.at - retried, check);
      await page.close();
    } finally {
      await setCloakTimeout(CLOAK_TIMEOUT_SECONDS.default);
    }
  });

  test('settings decide a failure: upload the original or cancel, and the overlay says which photo failed and why', { timeout: 300_000 }, async () => {
    await updateSettings({ cloakTimeoutSeconds: 1, onCloakFailure: 'original' });
    try {
      const page = await open(SITES.x);
      const [first, second] = files.faces;

      // 'original': nobody is asked (nothing is clicked here); the page gets the very file it would have got, and the
      // overlay says so.
      await chooseFiles(page, '#media', [first]);
      const [original] = await waitForReceived(page, 1);
      assertUntouched(original, first);
      const said = await waitForOverlay(page, 'face-cloak-status', /Uploaded unprotected, as your Face Cloak settings say/);
      assert.match(said, new RegExp(`Could not protect “${basename(first)}”: .*1 s`), said);

      // 'cancel': the page gets nothing, and the overlay says why.
      await updateSettings({ onCloakFailure: 'cancel' });
      await resetReceived(page);
      await chooseFiles(page, '#media', [second]);
      const cancelled = await waitForOverlay(page, 'face-cloak-status', /Upload cancelled, as your Face Cloak settings say/);
      assert.match(cancelled, new RegExp(`Could not protect “${basename(second)}”`));
      await page.waitForTimeout(1000);
      assert.equal(await page.evaluate(() => window.fixture.received.length), 0, 'nothing reached the page');
      await page.close();
    } finally {
      await updateSettings({ cloakTimeoutSeconds: CLOAK_TIMEOUT_SECONDS.default, onCloakFailure: 'ask' });
    }
  });

  test('three tabs at once: each gets its own photo cloaked, under its own name, and no other tab\'s', { timeout: 600_000 }, async (t) => {
    // Three sites, three ways in: a file chooser on X and on Mastodon, an input in a shadow root on Reddit.
    const tabs = [
      { url: SITES.x, photo: files.faces[0], via: 'x-input', choose: (page: Page, path: string) => chooseFiles(page, '#media', [path]) },
      { url: SITES.mastodon, photo: files.faces[1], via: 'mastodon-input', choose: (page: Page, path: string) => chooseFiles(page, '#upload', [path]) },
      {
        url: SITES.reddit,
        photo: files.faces[2],
        via: 'reddit-open',
        choose: async (page: Page, path: string) => {
          const chosen = Date.now();
          await page.locator('#open-upload input[type=file]').setInputFiles([path]);
          return chosen;
        },
      },
    ];
    const pages = await Promise.all(tabs.map((tab) => open(tab.url)));
    const chosen = await Promise.all(tabs.map((tab, i) => tab.choose(pages[i], tab.photo)));
    // All three are in the extension's hands at once (the engine queues them), each tab with its own overlay (on a
    // fast machine the first may already be done when its overlay is read).
    await Promise.all(pages.map((page) => waitForOverlay(page, 'face-cloak-status', /Protecting your photo|Photo protected/)));
    const got = await Promise.all(pages.map((page) => waitForReceived(page, 1)));

    const originals = await Promise.all(tabs.map((tab) => pixels(tab.photo)));
    for (const [i, tab] of tabs.entries()) {
      assert.equal(got[i].length, 1, `${tab.url}: one file`);
      const [received] = got[i];
      assert.equal(received.via, tab.via);
      const check = await assertCloaked(received, tab.photo);
      // The three photos have the same size, so a swapped result would pass the checks above on size alone: it must
      // be far closer to this tab's original than to the other tabs'.
      const mine = await pixels(Buffer.from(received.base64!, 'base64'));
      const distances = originals.map((original) => meanAbsDiff(mine, original));
      const others = distances.filter((_, j) => j !== i);
      assert.ok(distances[i] * 3 < Math.min(...others), `${tab.url}: its own photo (distances ${distances.map((d) => d.toFixed(1)).join(', ')})`);
      report(t, `three tabs at once, ${new URL(tab.url).host}`, received.at - chosen[i], check);
    }
    await Promise.all(pages.map((page) => page.close()));
  });

  test('no extension context made a network request, and no page threw', () => {
    assert.deepEqual(h.networkRequests(), []);
    assert.deepEqual(h.pageErrors(), []);
  });
});

async function pixels(source: string | Buffer): Promise<Buffer> {
  return sharp(source).removeAlpha().raw().toBuffer();
}

/** Mean absolute difference per channel value (0..255) of two same-sized RGB images. */
function meanAbsDiff(a: Buffer, b: Buffer): number {
  assert.equal(a.length, b.length, 'same size');
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}
