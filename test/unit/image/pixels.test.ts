import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cropRgb, padToSize, rgbFromRgba, rgbaFromRgb, shrinkRgb } from '../../../src/engine/image/pixels.ts';
import type { RgbImage } from '../../../src/engine/image/types.ts';

/** 4x3 image whose pixel (x, y) is [x, y, 10 * y + x]. */
function grid(width = 4, height = 3): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([x, y, 10 * y + x], (y * width + x) * 3);
  return { width, height, data };
}

const blue = (img: RgbImage): number[] => Array.from({ length: img.width * img.height }, (_, p) => img.data[p * 3 + 2]);

test('cropRgb inside the image', () => {
  const crop = cropRgb(grid(), { x: 1, y: 1, width: 2, height: 2 });
  assert.equal(crop.width, 2);
  assert.equal(crop.height, 2);
  assert.deepEqual(blue(crop), [11, 12, 21, 22]);
});

test('cropRgb past the edges fills with the fill value', () => {
  const crop = cropRgb(grid(), { x: 2.7, y: -1, width: 3, height: 2 }, [7, 8, 9]);
  // x floored to 2: columns 2, 3 and one outside; row -1 outside, row 0 inside.
  assert.deepEqual(blue(crop), [9, 9, 9, 2, 3, 9]);
  assert.deepEqual(Array.from(crop.data.subarray(0, 3)), [7, 8, 9]);
  assert.throws(() => cropRgb(grid(), { x: 0, y: 0, width: 0, height: 2 }), RangeError);
  assert.throws(() => cropRgb({ width: 4, height: 3, data: new Uint8Array(5) }, { x: 0, y: 0, width: 1, height: 1 }), RangeError);
});

test('shrinkRgb averages whole blocks and drops the partial edge', () => {
  // 5x3 by 2: blocks (0-1, 0-1) and (2-3, 0-1); column 4 and row 2 do not fill a block.
  const small = shrinkRgb(grid(5, 3), 2);
  assert.equal(small.width, 2);
  assert.equal(small.height, 1);
  // Blue of the first block: (0 + 1 + 10 + 11) / 4 = 5.5 -> 6; second: (2 + 3 + 12 + 13) / 4 = 7.5 -> 8.
  assert.deepEqual(blue(small), [6, 8]);
  assert.deepEqual(Array.from(small.data.subarray(0, 2)), [1, 1]); // red (0+1+0+1)/4 = 0.5 -> 1, green 0.5 -> 1
  const same = grid();
  assert.equal(shrinkRgb(same, 1), same, 'factor 1 is the image itself');
  assert.throws(() => shrinkRgb(grid(), 1.5), RangeError);
  assert.throws(() => shrinkRgb(grid(), 5), RangeError);
});

test('padToSize top-left and centred', () => {
  const tl = padToSize(grid(), 5, 4);
  assert.equal(tl.offsetX, 0);
  assert.equal(tl.offsetY, 0);
  assert.deepEqual(blue(tl), [0, 1, 2, 3, 0, 10, 11, 12, 13, 0, 20, 21, 22, 23, 0, 0, 0, 0, 0, 0]);
  const c = padToSize(grid(), 6, 5, { align: 'center', fill: 99 });
  assert.equal(c.offsetX, 1);
  assert.equal(c.offsetY, 1);
  assert.equal(c.data[(1 * 6 + 1) * 3 + 2], 0); // source (0, 0)
  assert.equal(c.data[(3 * 6 + 4) * 3 + 2], 23); // source (3, 2)
  assert.equal(c.data[0], 99);
  assert.throws(() => padToSize(grid(), 3, 4), RangeError);
});

test('rgbFromRgba splits channels; alpha only when not all opaque', () => {
  const rgba = new Uint8ClampedArray([1, 2, 3, 255, 4, 5, 6, 128]);
  const { rgb, alpha } = rgbFromRgba(rgba);
  assert.deepEqual(Array.from(rgb), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(alpha ?? []), [255, 128]);
  assert.equal(rgbFromRgba(new Uint8Array([1, 2, 3, 255])).alpha, undefined);
  assert.throws(() => rgbFromRgba(new Uint8Array(5)), RangeError);
});

test('rgbaFromRgb joins channels, opaque by default, and inverts rgbFromRgba', () => {
  const rgb = new Uint8Array([1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(rgbaFromRgb(rgb)), [1, 2, 3, 255, 4, 5, 6, 255]);
  const rgba = rgbaFromRgb(rgb, new Uint8Array([0, 77]));
  assert.ok(rgba instanceof Uint8ClampedArray);
  assert.deepEqual(Array.from(rgba), [1, 2, 3, 0, 4, 5, 6, 77]);
  const back = rgbFromRgba(rgba);
  assert.deepEqual(Array.from(back.rgb), Array.from(rgb));
  assert.throws(() => rgbaFromRgb(rgb, new Uint8Array(3)), RangeError);
});
