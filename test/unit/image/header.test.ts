import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { checkDecodeLimits, exifOrientation, readImageHeader, sniffFormat } from '../../../src/engine/image/header.ts';
import { ImageError, defaultDecodeLimits, type ImageErrorCode } from '../../../src/engine/image/types.ts';
import {
  animatedGif,
  fromRaw,
  gradientRaw,
  makeBmp,
  noisyJpeg,
  noisyPng,
  pngChunk,
  withPngChunkAfterIhdr,
} from './make-images.ts';

function throwsCode(fn: () => unknown, code: ImageErrorCode): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ImageError, `expected ImageError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.ok(error.message.length > 10);
    return true;
  });
}

const W = 70;
const H = 45;

test('JPEG: size from SOF, EXIF orientation, complete', async () => {
  const jpeg = await fromRaw(gradientRaw(W, H), W, H).withMetadata({ orientation: 6 }).jpeg().toBuffer();
  assert.deepEqual(readImageHeader(jpeg), {
    format: 'jpeg', width: W, height: H, orientation: 6, animated: false, truncated: false,
  });
  const progressive = await fromRaw(gradientRaw(W, H), W, H).jpeg({ progressive: true }).toBuffer();
  assert.deepEqual(readImageHeader(progressive), {
    format: 'jpeg', width: W, height: H, orientation: 1, animated: false, truncated: false,
  });
});

test('JPEG: a file cut short is marked truncated; trailing bytes after EOI are fine', async () => {
  const jpeg = await noisyJpeg();
  assert.equal(readImageHeader(jpeg.subarray(0, jpeg.length >> 1)).truncated, true);
  assert.equal(readImageHeader(Buffer.concat([jpeg, Buffer.from('trailing junk')])).truncated, false);
});

test('JPEG: cut before the frame header is corrupt', async () => {
  const jpeg = await noisyJpeg();
  throwsCode(() => readImageHeader(jpeg.subarray(0, 4)), 'corrupt');
  throwsCode(() => readImageHeader(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x08, 1, 2, 3, 4, 5, 6])), 'corrupt');
});

test('PNG: size from IHDR, eXIf orientation, IEND, APNG acTL', async () => {
  const png = await fromRaw(gradientRaw(W, H), W, H).png().toBuffer();
  assert.deepEqual(readImageHeader(png), {
    format: 'png', width: W, height: H, orientation: 1, animated: false, truncated: false,
  });
  const oriented = await fromRaw(gradientRaw(W, H), W, H).withMetadata({ orientation: 8 }).png().toBuffer();
  assert.equal(readImageHeader(oriented).orientation, 8);
  const actl = Buffer.alloc(8);
  actl.writeUInt32BE(4, 0); // 4 frames
  assert.equal(readImageHeader(withPngChunkAfterIhdr(png, pngChunk('acTL', actl))).animated, true);
  const big = await noisyPng();
  assert.equal(readImageHeader(big.subarray(0, big.length >> 1)).truncated, true);
  throwsCode(() => readImageHeader(png.subarray(0, 20)), 'corrupt');
});

test('GIF: logical screen size, frames counted, trailer', async () => {
  const still = await animatedGif(W, H, 1);
  assert.deepEqual(readImageHeader(still), {
    format: 'gif', width: W, height: H, orientation: 1, animated: false, truncated: false,
  });
  const anim = await animatedGif(W, H, 3);
  assert.deepEqual(readImageHeader(anim), {
    format: 'gif', width: W, height: H, orientation: 1, animated: true, truncated: false,
  });
  assert.equal(readImageHeader(anim.subarray(0, anim.length - 1)).truncated, true);
  throwsCode(() => readImageHeader(anim.subarray(0, 10)), 'corrupt');
});

test('WebP: VP8 (lossy), VP8L (lossless), VP8X (alpha, EXIF, animation)', async () => {
  const base = fromRaw(gradientRaw(W, H), W, H);
  const lossy = await base.clone().webp().toBuffer();
  assert.equal(lossy.toString('latin1', 12, 16), 'VP8 ');
  assert.deepEqual(readImageHeader(lossy), {
    format: 'webp', width: W, height: H, orientation: 1, animated: false, truncated: false,
  });
  const lossless = await base.clone().webp({ lossless: true }).toBuffer();
  assert.equal(lossless.toString('latin1', 12, 16), 'VP8L');
  assert.deepEqual(readImageHeader(lossless), {
    format: 'webp', width: W, height: H, orientation: 1, animated: false, truncated: false,
  });
  const extended = await base.clone().ensureAlpha(0.5).withMetadata({ orientation: 3 }).webp().toBuffer();
  assert.equal(extended.toString('latin1', 12, 16), 'VP8X');
  assert.deepEqual(readImageHeader(extended), {
    format: 'webp', width: W, height: H, orientation: 3, animated: false, truncated: false,
  });
  const anim = await sharp(await animatedGif(W, H, 3), { animated: true }).webp().toBuffer();
  assert.deepEqual(readImageHeader(anim), {
    format: 'webp', width: W, height: H, orientation: 1, animated: true, truncated: false,
  });
  assert.equal(readImageHeader(lossy.subarray(0, lossy.length - 10)).truncated, true);
});

test('AVIF: size from ispe', async () => {
  const avif = await fromRaw(gradientRaw(W, H), W, H).avif().toBuffer();
  assert.equal(sniffFormat(avif), 'avif');
  assert.deepEqual(readImageHeader(avif), {
    format: 'avif', width: W, height: H, orientation: 1, animated: false, truncated: false,
  });
});

test('BMP: size from the DIB header (bottom-up and top-down)', () => {
  const bmp = makeBmp(W, H, [1, 2, 3]);
  assert.deepEqual(readImageHeader(bmp), {
    format: 'bmp', width: W, height: H, orientation: 1, animated: false, truncated: false,
  });
  const topDown = Buffer.from(bmp);
  topDown.writeInt32LE(-H, 22);
  assert.equal(readImageHeader(topDown).height, H);
  assert.equal(readImageHeader(bmp.subarray(0, 60)).truncated, true);
});

test('empty bytes are empty; text, TIFF, SVG and HEIC are unsupported', async () => {
  throwsCode(() => readImageHeader(new Uint8Array(0)), 'empty');
  throwsCode(() => readImageHeader(new TextEncoder().encode('hello, this is a text file\n')), 'unsupported-format');
  throwsCode(() => readImageHeader(new TextEncoder().encode('BMW 320d for sale, one owner')), 'unsupported-format');
  const tiff = await fromRaw(gradientRaw(W, H), W, H).tiff().toBuffer();
  throwsCode(() => readImageHeader(tiff), 'unsupported-format');
  throwsCode(() => readImageHeader(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>')), 'unsupported-format');
  const heic = Buffer.alloc(32);
  heic.writeUInt32BE(24, 0);
  heic.write('ftypheic\0\0\0\0mif1heic', 4, 'latin1');
  assert.equal(sniffFormat(heic), null);
});

test('exifOrientation reads both byte orders and rejects junk', () => {
  const make = (le: boolean, value: number): Uint8Array => {
    const b = Buffer.alloc(26);
    // The same TIFF header and one-entry IFD (Orientation, SHORT, count 1) in either byte order.
    const u16 = (v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
    const u32 = (v: number, at: number) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
    b.write(le ? 'II' : 'MM', 0, 'latin1');
    u16(42, 2);
    u32(8, 4);
    u16(1, 8);
    u16(0x0112, 10);
    u16(3, 12);
    u32(1, 14);
    u16(value, 18);
    return b;
  };
  assert.equal(exifOrientation(make(true, 6)), 6);
  assert.equal(exifOrientation(make(false, 5)), 5);
  assert.equal(exifOrientation(make(true, 9)), 1);
  assert.equal(exifOrientation(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])), 1);
});

test('checkDecodeLimits: too-large over maxPixels, too-small under minSide', () => {
  throwsCode(() => checkDecodeLimits(8000, 7000, defaultDecodeLimits), 'too-large');
  throwsCode(() => checkDecodeLimits(1, 1, defaultDecodeLimits), 'too-small');
  throwsCode(() => checkDecodeLimits(15, 4000, defaultDecodeLimits), 'too-small');
  assert.doesNotThrow(() => checkDecodeLimits(16, 16, defaultDecodeLimits));
  assert.doesNotThrow(() => checkDecodeLimits(5000, 10000, defaultDecodeLimits)); // exactly 50 MP
});
