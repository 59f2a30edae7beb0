import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cropInside, luma, psnr, ssim, ssimGray } from '../../../src/engine/image/quality.ts';
import { mulberry32 } from '../../../bench/lib/prng.ts';

function texture(width: number, height: number) {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = (x * 7 + y * 3) % 256;
      data[o + 1] = Math.round(128 + 100 * Math.sin(x / 5) * Math.cos(y / 7));
      data[o + 2] = (x * y) % 256;
    }
  }
  return { width, height, data };
}

function noisy(image: ReturnType<typeof texture>, eps: number, seed: number) {
  const r = mulberry32(seed);
  const data = image.data.map((v) => Math.max(0, Math.min(255, Math.round(v + (r() * 2 - 1) * eps))));
  return { ...image, data };
}

test('identical images: SSIM 1 and PSNR infinite', () => {
  const a = texture(64, 48);
  assert.equal(ssim(a, { ...a, data: a.data.slice() }), 1);
  assert.equal(psnr(a, a), Number.POSITIVE_INFINITY);
});

test('noise lowers SSIM and PSNR, more noise lowers them more', () => {
  const a = texture(64, 48);
  const small = noisy(a, 4, 1);
  const large = noisy(a, 32, 1);
  const s1 = ssim(a, small);
  const s2 = ssim(a, large);
  assert.ok(s1 < 1 && s1 > 0.8, `ssim small noise ${s1}`);
  assert.ok(s2 < s1, `ssim large ${s2} should be under small ${s1}`);
  const p1 = psnr(a, small);
  const p2 = psnr(a, large);
  // Uniform noise in ±4 has MSE about 16/3 + rounding: PSNR near 40 dB.
  assert.ok(p1 > 38 && p1 < 45, `psnr ${p1}`);
  assert.ok(p2 < p1 - 10);
});

test('PSNR of a constant offset of 1 level is 48.13 dB', () => {
  const a = { width: 4, height: 4, data: new Uint8Array(48).fill(100) };
  const b = { width: 4, height: 4, data: new Uint8Array(48).fill(101) };
  assert.ok(Math.abs(psnr(a, b) - 20 * Math.log10(255)) < 1e-9);
});

test('SSIM is symmetric, and low against a structureless image', () => {
  const a = texture(40, 40);
  const b = noisy(a, 16, 2);
  assert.ok(Math.abs(ssim(a, b) - ssim(b, a)) < 1e-12);
  // A flat grey image against the texture: all structure gone, lower SSIM than the noisy copy.
  const grey = { width: 40, height: 40, data: new Uint8Array(40 * 40 * 3).fill(128) };
  const flat = ssim(a, grey);
  assert.ok(flat < 0.4 && flat < ssim(a, b), `ssim vs flat grey ${flat}`);
});

test('SSIM of two flat images is the luminance term with the standard constants', () => {
  const flat = (v: number) => ({ width: 16, height: 16, data: new Uint8Array(16 * 16 * 3).fill(v) });
  const c1 = (0.01 * 255) ** 2;
  const expected = (2 * 100 * 110 + c1) / (100 * 100 + 110 * 110 + c1);
  assert.ok(Math.abs(ssim(flat(100), flat(110)) - expected) < 1e-9, `${ssim(flat(100), flat(110))} vs ${expected}`);
});

test('luma, crop and small images', () => {
  const px = { width: 1, height: 1, data: new Uint8Array([255, 0, 0]) };
  assert.ok(Math.abs(luma(px).data[0] - 0.299 * 255) < 1e-3);
  const a = texture(20, 10);
  const c = cropInside(a, { x: 2.5, y: 1, width: 5, height: 4 });
  assert.equal(c.width, 6); // floor(2.5) .. ceil(7.5)
  assert.equal(c.height, 4);
  assert.deepEqual(Array.from(c.data.subarray(0, 3)), Array.from(a.data.subarray((1 * 20 + 2) * 3, (1 * 20 + 2) * 3 + 3)));
  assert.throws(() => cropInside(a, { x: 50, y: 50, width: 5, height: 5 }), RangeError);
  // A window larger than the image shrinks to fit; under 3 px it is undefined.
  const small = texture(8, 8);
  assert.equal(ssimGray(luma(small), luma(small)), 1);
  assert.ok(Number.isNaN(ssimGray(luma(texture(2, 8)), luma(texture(2, 8)))));
  assert.throws(() => psnr(texture(4, 4), texture(4, 5)), RangeError);
});
