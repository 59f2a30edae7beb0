// The engine inside the built extension, in headless Chromium: input gradients through alignment and every
// recognizer checked against finite differences on every backend we ship (webgpu and webgl are SwiftShader here:
// slow but correct), compared across backends, and the browser decoder on real and bad files.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { recognizerIds } from '../../src/engine/recognizers/zoo.ts';
import { faceApiDemoDir } from '../support/photos.ts';
import { type ExtensionHarness, launchExtension, openEngineLab, runInEngineLab } from './harness.ts';

let h: ExtensionHarness;
let lab: Page;

before(async () => {
  h = await launchExtension();
  lab = await openEngineLab(h);
});
after(async () => {
  assert.deepEqual(h.networkRequests(), [], 'the engine made network requests');
  await h.close();
});

const base64 = (bytes: Uint8Array | Buffer) => Buffer.from(bytes).toString('base64');

describe('browser decoder', () => {
  test('decodes a real photo to the same size sharp reports', async () => {
    const bytes = await readFile(join(faceApiDemoDir, 'sample2.jpg'));
    const meta = await sharp(bytes).metadata();
    const decoded = await runInEngineLab(lab, 'decode', [base64(bytes)]);
    assert.ok(decoded.ok);
    assert.equal(decoded.width, meta.width);
    assert.equal(decoded.height, meta.height);
    assert.equal(decoded.format, 'jpeg');
  });

  test('applies EXIF orientation 6 (sides swap, pixels rotate)', async () => {
    // Left half red, right half blue, stored landscape with "rotate 90 clockwise" in EXIF.
    const stored = await sharp({ create: { width: 64, height: 32, channels: 3, background: '#0000ff' } })
      .composite([{ input: { create: { width: 32, height: 32, channels: 3, background: '#ff0000' } }, left: 0, top: 0 }])
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const decoded = await runInEngineLab(lab, 'decode', [base64(stored)]);
    assert.ok(decoded.ok);
    assert.deepEqual([decoded.width, decoded.height], [32, 64]);
    // After rotating 90 degrees clockwise, the red left half is on top.
    assert.ok(decoded.topLeft[0] > 200 && decoded.topLeft[2] < 60, `top-left ${decoded.topLeft}`);
  });

  test('bad files get typed errors, not crashes', async () => {
    const jpeg = await readFile(join(faceApiDemoDir, 'sample2.jpg'));
    const cases: Array<[string, Uint8Array, string]> = [
      ['zero bytes', new Uint8Array(0), 'empty'],
      ['text named .jpg', new TextEncoder().encode('not an image at all, just text'), 'unsupported-format'],
      ['truncated JPEG', jpeg.subarray(0, Math.floor(jpeg.length / 3)), 'corrupt'],
      ['1x1 PNG', await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } }).png().toBuffer(), 'too-small'],
    ];
    for (const [name, bytes, code] of cases) {
      const decoded = await runInEngineLab(lab, 'decode', [base64(bytes)]);
      assert.equal(decoded.ok, false, name);
      if (!decoded.ok) assert.equal(decoded.code, code, `${name}: ${decoded.message}`);
    }
  });
});

describe('input gradients on every backend', () => {
  // Fewer steps than in Node: each step costs two forward passes, and SwiftShader forward passes take seconds.
  const steps = [0.02, 0.01];

  before(async () => {
    const bytes = await readFile(join(faceApiDemoDir, 'sample1.jpg'));
    const prepared = await runInEngineLab(lab, 'prepareFace', [base64(bytes)]);
    assert.ok(prepared.faces >= 3);
  });

  for (const backend of ['wasm', 'cpu', 'webgl', 'webgpu']) {
    for (const id of recognizerIds) {
      test(`${id} on ${backend}: analytic gradient matches finite differences`, { timeout: 600_000 }, async (t) => {
        const check = await runInEngineLab(lab, 'gradientCheck', [backend, id, steps]);
        t.diagnostic(`${backend} ${id}: analytic ${check.analytic}, numeric ${check.numeric}, gradient ${Math.round(check.gradientMs)} ms`);
        assert.equal(check.backend, backend);
        assert.ok(check.nonZero);
        assert.ok(check.relativeError < 0.05, `relative error ${check.relativeError}`);
        if (backend !== 'wasm') {
          const cosine = await runInEngineLab(lab, 'compareGradients', [id, backend, 'wasm']);
          assert.ok(cosine > 0.999, `cosine with wasm ${cosine}`);
        }
      });
    }
  }
});
