/**
 * The cloak service end to end on the built extension (dist/chromium; this file builds only the client under test):
 * the real `cloakFile()` (src/content/cloak-client.ts) runs in the content script's isolated world of a routed
 * x.com page, so the background sees a real content-script sender; the background drives the offscreen document,
 * which decodes, cloaks with the real engine and encodes. Small single-face photo, strength 'low': this checks the
 * service, not the cloak's protection (bench/protection measures that).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { decodeImageNode } from '../../src/engine/image/decode-node.ts';
import type { DecodedImage } from '../../src/engine/image/types.ts';
import type { CloakSummary, EngineStatus } from '../../src/shared/messages.ts';
import type { RecentCloak } from '../../src/shared/recent-cloaks.ts';
import { sharedFacesDir } from '../support/photos.ts';
import { type ExtensionHarness, type IsolatedWorld, isolatedWorld, launchExtension } from './harness.ts';

const SITE_URL = 'https://x.com/compose/post';
const SITE_HTML = '<!doctype html><html><head><title>x.com fixture</title></head><body><p>compose</p></body></html>';
/** One face of about 80 px in a 475x343 photo: plenty of background to check that it stays as it was. */
const PHOTO = 'jurassic/laura_dern/08.jpg';

interface ClientOutcome {
  ok: boolean;
  code?: string;
  message?: string;
  name?: string;
  type?: string;
  same?: boolean;
  unchanged?: boolean;
  faces?: number;
  ms?: number;
  data?: string;
  phases?: string[];
  lastModified?: number;
}

describe('cloak service (dist/chromium)', () => {
  let h: ExtensionHarness;
  let site: Page;
  let world: IsolatedWorld;
  let photo: { bytes: Uint8Array; image: DecodedImage };
  /** Face regions the engine reported for PHOTO, from the PNG run. */
  let regions: CloakSummary['faces'] = [];

  before(async () => {
    const bytes = new Uint8Array(await readFile(join(sharedFacesDir, PHOTO)));
    photo = { bytes, image: await decodeImageNode(bytes) };
    h = await launchExtension({ browserBuild: 'chromium' });
    await h.context.route('https://x.com/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: SITE_HTML }),
    );
    // Strength comes from the site's settings: 'low' keeps the test short.
    const page = await h.openExtensionPage('popup.html');
    await page.evaluate(() =>
      chrome.runtime.sendMessage({
        faceCloak: 1,
        name: 'background:setSiteSettings',
        payload: { site: 'x.com', patch: { strength: 'low' } },
      }),
    );
    await page.close();
    site = await h.context.newPage();
    await site.goto(SITE_URL);
    world = await isolatedWorld(site, h.extensionId);
    await world.evaluate(await clientBundle());
  });

  after(async () => {
    await world?.close();
    await h?.close();
  });

  /** Runs cloakFile in the content script's world on `bytes`; `abortOn` aborts at the first progress of that phase. */
  function cloakInPage(
    bytes: Uint8Array,
    name: string,
    type: string,
    extra: { abortOn?: string; timeoutMs?: number; keep?: string } = {},
  ): Promise<ClientOutcome> {
    return world.evaluate(`(async () => {
      const file = new File([Uint8Array.fromBase64(${JSON.stringify(Buffer.from(bytes).toString('base64'))})],
        ${JSON.stringify(name)}, { type: ${JSON.stringify(type)}, lastModified: 1 });
      const controller = new AbortController();
      const phases = [];
      const run = faceCloakClient.cloakFile(file, {
        signal: controller.signal,
        timeoutMs: ${extra.timeoutMs ?? 300_000},
        onProgress: (p) => {
          globalThis.lastPhase = p.phase;
          if (phases.at(-1) !== p.phase) phases.push(p.phase);
          if (p.phase === ${JSON.stringify(extra.abortOn ?? '')}) controller.abort();
        },
      }).then(
        async (r) => ({ ok: true, name: r.file.name, type: r.file.type, same: r.file === file, unchanged: r.unchanged,
          faces: r.faces, ms: r.ms, lastModified: r.file.lastModified, phases,
          data: new Uint8Array(await r.file.arrayBuffer()).toBase64() }),
        (e) => ({ ok: false, code: e.code, name: e.name, message: e.message, phases }),
      );
      ${extra.keep ? `globalThis[${JSON.stringify(extra.keep)}] = run; return null;` : 'return run;'}
    })()`) as Promise<ClientOutcome>;
  }

  /**
   * The engine's status once it is idle: after a cloak, the document measures the photo's protection estimate (and
   * loads the held-out recognizers the first time), so tensor counts are only comparable when no estimate runs.
   */
  async function engineStatus(): Promise<EngineStatus> {
    const page = await h.openExtensionPage('popup.html');
    try {
      for (let attempt = 0; ; attempt++) {
        const reply = await page.evaluate(() => chrome.runtime.sendMessage({ faceCloak: 1, name: 'background:engineStatus' }));
        assert.equal(reply.ok, true, JSON.stringify(reply));
        const status = reply.result as EngineStatus;
        if (!status.estimatesPending) return status;
        assert.ok(attempt < 600, `estimates still pending after ${attempt} s`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    } finally {
      await page.close();
    }
  }

  test('a PNG with a face: face region changed, everything else and the alpha channel exactly kept', { timeout: 300_000 }, async (t) => {
    // The photo as an RGBA PNG with a half-transparent band at the bottom, so the alpha path is exercised too.
    const { width, height } = photo.image;
    const rgba = Buffer.alloc(width * height * 4);
    for (let p = 0; p < width * height; p++) {
      rgba.set(photo.image.data.subarray(p * 3, p * 3 + 3), p * 4);
      rgba[p * 4 + 3] = Math.floor(p / width) >= height - 12 ? 128 : 255;
    }
    const png = new Uint8Array(await sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer());
    const input = await decodeImageNode(png);

    // The raw port protocol, to see the summary (face regions) that cloakFile() does not expose.
    const started = performance.now();
    const reply = (await world.evaluate(`new Promise((resolve) => {
      const port = chrome.runtime.connect({ name: 'face-cloak:cloak' });
      const chunks = []; let summary = null; const phases = [];
      port.onMessage.addListener((m) => {
        if (m.type === 'progress') { if (phases.at(-1) !== m.progress.phase) phases.push(m.progress.phase); }
        else if (m.type === 'error') resolve({ error: m.failure });
        else if (m.type === 'result') { summary = m.summary; if (summary.unchanged) resolve({ summary, phases }); }
        else if (m.type === 'chunk') {
          chunks.push(m.data);
          const got = chunks.reduce((n, c) => n + Uint8Array.fromBase64(c).length, 0);
          if (got === summary.size) { port.disconnect(); resolve({ summary, chunks, phases }); }
        }
      });
      port.onDisconnect.addListener(() => resolve({ error: 'disconnected' }));
      port.postMessage({ type: 'start', size: ${png.length}, mime: 'image/png', strength: 'low' });
      port.postMessage({ type: 'chunk', data: ${JSON.stringify(Buffer.from(png).toString('base64'))} });
    })`)) as { summary?: CloakSummary; chunks?: string[]; phases?: string[]; error?: unknown };
    const ms = performance.now() - started;
    assert.ok(reply.summary && reply.chunks, JSON.stringify(reply.error));
    const { summary } = reply;
    t.diagnostic(`PNG ${width}x${height}, ${summary.faces.length} face(s): ${Math.round(ms)} ms end to end ` +
      `(queued ${Math.round(summary.timings.queuedMs)}, detect ${Math.round(summary.timings.detectMs)}, ` +
      `cloak ${summary.timings.cloakMs.map(Math.round).join('+')}, encode ${Math.round(summary.timings.encodeMs)})`);
    assert.deepEqual(reply.phases, ['queued', 'detecting', 'cloaking', 'encoding']);
    assert.equal(summary.unchanged, false);
    assert.equal(summary.strength, 'low');
    assert.equal(summary.mime, 'image/png');
    assert.equal(summary.faces.length, 1);
    regions = summary.faces;

    const output = await decodeImageNode(new Uint8Array(Buffer.concat(reply.chunks.map((c) => Buffer.from(c, 'base64')))));
    assert.equal(output.format, 'png');
    assert.equal(output.width, width);
    assert.equal(output.height, height);
    assert.ok(output.alpha, 'the alpha channel is kept');
    assert.deepEqual(output.alpha, input.alpha);

    const [{ region }] = summary.faces;
    const inside = (x: number, y: number) =>
      x >= region.x && x < region.x + region.width && y >= region.y && y < region.y + region.height;
    let changedInside = 0;
    let changedOutside = 0;
    let maxDiff = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = y * width + x;
        if (input.alpha![p] !== 255) continue; // The canvas keeps colours premultiplied: compare opaque pixels.
        for (let c = 0; c < 3; c++) {
          const diff = Math.abs(output.data[p * 3 + c] - input.data[p * 3 + c]);
          maxDiff = Math.max(maxDiff, diff);
          if (diff && inside(x, y)) changedInside += 1;
          if (diff && !inside(x, y)) changedOutside += 1;
        }
      }
    }
    assert.equal(changedOutside, 0, 'nothing outside the face region changed');
    assert.ok(changedInside > region.width * region.height * 0.3, `${changedInside} changed values in the face region`);
    assert.ok(maxDiff <= 16, `largest change ${maxDiff} levels`);
  });

  test('a JPEG with a face through cloakFile(): JPEG back, same size, name and type, face changed, rest kept', { timeout: 300_000 }, async (t) => {
    const tensorsBefore = (await engineStatus()).tensors;
    const result = await cloakInPage(photo.bytes, 'me at the beach.jpg', 'image/jpeg');
    assert.equal(result.ok, true, `${result.code}: ${result.message}`);
    t.diagnostic(`JPEG, file chosen -> cloaked file delivered: ${Math.round(result.ms!)} ms (engine warm)`);
    assert.equal(result.unchanged, false);
    assert.equal(result.faces, 1);
    assert.equal(result.name, 'me at the beach.jpg');
    assert.equal(result.type, 'image/jpeg');
    assert.ok(result.lastModified! > 1, 'a fresh lastModified');
    assert.deepEqual(result.phases, ['queued', 'detecting', 'cloaking', 'encoding']);

    const output = await decodeImageNode(new Uint8Array(Buffer.from(result.data!, 'base64')));
    assert.equal(output.format, 'jpeg');
    assert.equal(output.width, photo.image.width);
    assert.equal(output.height, photo.image.height);
    // JPEG re-encoding moves every pixel a little; the face region must move clearly more than the rest, and the
    // rest (away from the region's edge, where JPEG blocks straddle it) hardly at all.
    const [{ region }] = regions;
    const margin = 16;
    const face = meanAbsDiff(photo.image, output, (x, y) =>
      x >= region.x && x < region.x + region.width && y >= region.y && y < region.y + region.height);
    const rest = meanAbsDiff(photo.image, output, (x, y) =>
      x < region.x - margin || x >= region.x + region.width + margin ||
      y < region.y - margin || y >= region.y + region.height + margin);
    t.diagnostic(`mean |diff| face ${face.toFixed(2)}, rest ${rest.toFixed(2)} levels`);
    assert.ok(rest < 1.5, `outside the face: mean change ${rest.toFixed(2)}`);
    assert.ok(face > rest * 1.5, `face ${face.toFixed(2)} vs rest ${rest.toFixed(2)}`);
    assert.equal((await engineStatus()).tensors, tensorsBefore, 'no tensor leaked across a job');
  });

  test("a face cloak leaves a recent-cloaks record: thumbnails, then a held-out protection estimate", { timeout: 600_000 }, async (t) => {
    const page = await h.openExtensionPage('popup.html');
    try {
      const recent = async (): Promise<RecentCloak[]> => {
        const reply = await page.evaluate(() => chrome.runtime.sendMessage({ faceCloak: 1, name: 'background:getRecentCloaks' }));
        assert.equal(reply.ok, true, JSON.stringify(reply));
        return reply.result as RecentCloak[];
      };
      const send = (name: string, payload?: unknown) =>
        page.evaluate(([n, p]) => chrome.runtime.sendMessage({ faceCloak: 1, name: n, payload: p }), [name, payload] as const);
      await send('background:clearRecentCloaks');
      const result = await cloakInPage(photo.bytes, 'record me.jpg', 'image/jpeg');
      assert.equal(result.ok, true, `${result.code}: ${result.message}`);
      t.diagnostic(`cloaked file delivered in ${Math.round(result.ms!)} ms (the estimate runs only after that)`);
      const started = Date.now();
      let records = await recent();
      while (records[0]?.estimate.state === 'pending' || records.length === 0) {
        assert.ok(Date.now() - started < 540_000, 'the estimate never arrived');
        await new Promise((resolve) => setTimeout(resolve, 1000));
        records = await recent();
      }
      t.diagnostic(`estimate ready ${Date.now() - started} ms after the cloaked file was delivered`);
      assert.equal(records.length, 1);
      const [record] = records;
      assert.equal(record.source, 'upload');
      assert.equal(record.site, 'x.com', 'the site comes from the sender, as the background saw it');
      assert.equal(record.fileName, undefined, 'a page-supplied name is not recorded for uploads');
      assert.equal(record.faces, 1);
      assert.equal(record.strength, 'low');
      assert.deepEqual([record.width, record.height], [photo.image.width, photo.image.height]);
      for (const thumb of [record.before, record.after]) {
        const image = await decodeImageNode(new Uint8Array(Buffer.from(thumb.split(',')[1], 'base64')));
        assert.equal(Math.max(image.width, image.height), Math.min(240, Math.max(photo.image.width, photo.image.height)));
      }
      assert.notEqual(record.before, record.after, 'the after thumbnail shows the cloaked photo');
      assert.equal(record.estimate.state, 'done', JSON.stringify(record.estimate));
      if (record.estimate.state !== 'done') return;
      const estimate = record.estimate.value;
      t.diagnostic(`estimate: ${Math.round(estimate.ms)} ms in the engine, held-out protection ${estimate.heldOutProtection}`);
      const heldOut = estimate.recognizers.filter((r) => !r.seenByCloak).map((r) => r.id);
      // The held-out judges: FaceNet-style face-api ResNet and the two ArcFace-style ones the ensemble lacks.
      assert.deepEqual(heldOut.sort(), ['faceapi-resnet', 'faceplugin-mobilefacenet', 'human-mobileface'], `held out: ${heldOut.join(', ')}`);
      assert.deepEqual(estimate.defenses.map((d) => d.id), ['none', 'jpeg75', 'gauss1.5', 'median5', 'resize0.5']);
      assert.equal(estimate.cells.length, estimate.recognizers.length * estimate.defenses.length);
      assert.equal(estimate.faces, 1);
      assert.ok(estimate.heldOutProtection !== null && estimate.heldOutProtection >= 0 && estimate.heldOutProtection <= 1);
      for (const cell of estimate.cells.filter((c) => c.faces > 0 && c.meanSimilarity !== null)) {
        assert.ok(cell.meanSimilarity! < 0.9999, `${cell.recognizer}/${cell.defense}: the cloaked face is not the clean one`);
      }

      // Keeping none (0 days): the existing record goes at once, and the next cloak leaves none.
      await send('background:updateSettings', { recentCloaksDays: 0 });
      assert.deepEqual(await recent(), []);
      const unrecorded = await cloakInPage(photo.bytes, 'again.jpg', 'image/jpeg');
      assert.equal(unrecorded.ok, true);
      assert.deepEqual(await recent(), []);
      assert.equal((await engineStatus()).estimatesPending ?? 0, 0);
    } finally {
      await page.evaluate(() =>
        chrome.runtime.sendMessage({ faceCloak: 1, name: 'background:updateSettings', payload: { recentCloaksDays: 7 } }),
      );
      await page.close();
    }
  });

  test('a photo without a face comes back unchanged (the same File) right after detection', { timeout: 120_000 }, async (t) => {
    const { data, info } = await sharp({
      create: { width: 320, height: 240, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 30 } },
    }).raw().toBuffer({ resolveWithObject: true });
    const jpeg = new Uint8Array(await sharp(data, { raw: info }).blur(3).jpeg().toBuffer());
    const result = await cloakInPage(jpeg, 'wall.jpg', 'image/jpeg');
    assert.equal(result.ok, true, `${result.code}: ${result.message}`);
    t.diagnostic(`no face: ${Math.round(result.ms!)} ms`);
    assert.equal(result.unchanged, true);
    assert.equal(result.same, true, 'the original File object itself');
    assert.equal(result.faces, 0);
    assert.ok(result.ms! < 15_000, `${result.ms} ms`);
    assert.ok(!result.phases!.includes('cloaking'));
  });

  test('bad bytes are a bad-image error', { timeout: 60_000 }, async () => {
    const truncated = photo.bytes.slice(0, photo.bytes.length >> 1);
    const garbled = photo.bytes.slice();
    garbled.fill(0x55, 600, garbled.length - 2); // Header intact, entropy-coded data destroyed.
    for (const [bytes, label] of [
      [new TextEncoder().encode('not an image at all'), 'text'],
      [truncated, 'truncated JPEG'],
      [garbled, 'garbled JPEG'],
    ] as const) {
      const result = await cloakInPage(bytes, 'x.jpg', 'image/jpeg');
      assert.equal(result.ok, false, label);
      assert.equal(result.code, 'bad-image', `${label}: ${result.code} ${result.message}`);
      assert.equal(result.name, 'CloakFileError');
    }
  });

  test('aborting mid-cloak rejects with cancelled, and the engine goes on with the next photo', { timeout: 300_000 }, async () => {
    const tensorsBefore = (await engineStatus()).tensors;
    const cancelled = await cloakInPage(photo.bytes, 'a.jpg', 'image/jpeg', { abortOn: 'cloaking' });
    assert.equal(cancelled.ok, false);
    assert.equal(cancelled.code, 'cancelled');
    // The job is dropped in the engine too, not left running: the next face-less photo does not wait behind it.
    const { data, info } = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#36a' } })
      .raw().toBuffer({ resolveWithObject: true });
    const next = await cloakInPage(new Uint8Array(await sharp(data, { raw: info }).png().toBuffer()), 'b.png', 'image/png');
    assert.equal(next.ok, true, `${next.code}: ${next.message}`);
    assert.ok(next.ms! < 15_000, `the next photo waited ${next.ms} ms`);
    assert.equal((await engineStatus()).tensors, tensorsBefore, 'no tensor leaked by the cancelled job');
  });

  test('a timeout rejects with timeout', { timeout: 120_000 }, async () => {
    const result = await cloakInPage(photo.bytes, 'a.jpg', 'image/jpeg', { timeoutMs: 1_500 });
    assert.equal(result.ok, false);
    assert.equal(result.code, 'timeout');
  });

  test('the offscreen document closed mid-cloak is an engine-failed error, not a hang', { timeout: 300_000 }, async () => {
    await cloakInPage(photo.bytes, 'a.jpg', 'image/jpeg', { keep: 'closedRun' });
    await world.evaluate(`new Promise((resolve) => {
      const wait = () => (globalThis.lastPhase === 'cloaking' ? resolve() : setTimeout(wait, 50));
      globalThis.lastPhase = null; wait();
    })`);
    await h.serviceWorker.evaluate(() => chrome.offscreen.closeDocument());
    const started = performance.now();
    const result = (await world.evaluate('globalThis.closedRun')) as ClientOutcome;
    assert.equal(result.ok, false);
    assert.equal(result.code, 'engine-failed', result.message);
    assert.ok(performance.now() - started < 10_000, 'the error came at once');
  });

  test('the service worker stopped mid-cloak: the client hears at once, the engine drops the orphaned job', { timeout: 300_000 }, async () => {
    await cloakInPage(photo.bytes, 'a.jpg', 'image/jpeg', { keep: 'stoppedRun' });
    await world.evaluate(`new Promise((resolve) => {
      const wait = () => (globalThis.lastPhase === 'cloaking' ? resolve() : setTimeout(wait, 50));
      globalThis.lastPhase = null; wait();
    })`);
    const cdp = await h.context.newCDPSession(site);
    try {
      await cdp.send('ServiceWorker.enable');
      await cdp.send('ServiceWorker.stopAllWorkers');
    } finally {
      await cdp.detach();
    }
    const result = (await world.evaluate('globalThis.stoppedRun')) as ClientOutcome;
    assert.equal(result.ok, false);
    assert.equal(result.code, 'extension-unavailable', result.message);
    // The next photo wakes a fresh worker; the old job is dropped at its next progress report instead of running on.
    const next = await cloakInPage(photo.bytes, 'b.jpg', 'image/jpeg');
    assert.equal(next.ok, true, `${next.code}: ${next.message}`);
  });

  test('a site that is switched off is refused; content scripts cannot send the engine-side messages', { timeout: 60_000 }, async () => {
    const page = await h.openExtensionPage('popup.html');
    const set = (enabled: boolean) =>
      page.evaluate(
        (on) =>
          chrome.runtime.sendMessage({
            faceCloak: 1,
            name: 'background:setSiteSettings',
            payload: { site: 'x.com', patch: { enabled: on } },
          }),
        enabled,
      );
    await set(false);
    try {
      const result = await cloakInPage(photo.bytes, 'a.jpg', 'image/jpeg');
      assert.equal(result.code, 'extension-unavailable', result.message);
      assert.match(result.message!, /off for this site/);
    } finally {
      await set(true);
      await page.close();
    }
    for (const name of ['background:cloakProgress', 'offscreen:cloakTake', 'offscreen:cloakRun']) {
      const reply = (await world.evaluate(
        `chrome.runtime.sendMessage({ faceCloak: 1, name: ${JSON.stringify(name)}, payload: { job: 'x' } })`,
      )) as { ok: boolean; error?: { code: string } } | undefined;
      // The background refuses; the offscreen document (if open) refuses too. Either way nobody obeys.
      if (reply) assert.equal(reply.error?.code, 'forbidden', `${name}: ${JSON.stringify(reply)}`);
    }
  });

  test('no extension context made a network request', () => {
    assert.deepEqual(h.networkRequests(), []);
  });
});

function meanAbsDiff(a: DecodedImage, b: DecodedImage, include: (x: number, y: number) => boolean): number {
  let sum = 0;
  let count = 0;
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      if (!include(x, y)) continue;
      const p = (y * a.width + x) * 3;
      for (let c = 0; c < 3; c++) sum += Math.abs(a.data[p + c] - b.data[p + c]);
      count += 3;
    }
  }
  return sum / count;
}

/** cloak-client.ts bundled as a classic script that defines `faceCloakClient` (content.js does not export it). */
async function clientBundle(): Promise<string> {
  const result = await esbuild.build({
    entryPoints: [fileURLToPath(new URL('../../src/content/cloak-client.ts', import.meta.url))],
    bundle: true,
    format: 'iife',
    globalName: 'faceCloakClient',
    platform: 'browser',
    target: 'chrome116',
    write: false,
    define: { __TEST__: 'true', __BROWSER__: '"chromium"' },
  });
  return result.outputFiles[0].text;
}

