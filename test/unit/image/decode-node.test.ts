import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImageNode } from '../../../src/engine/image/decode-node.ts';
import { ImageError, type ImageErrorCode } from '../../../src/engine/image/types.ts';
import {
  BLUE,
  GREEN,
  RED,
  WHITE,
  animatedGif,
  fromRaw,
  gradientRaw,
  makeBmp,
  near,
  noisyJpeg,
  noisyPng,
  pixelAt,
  quadrantsRaw,
  withJpegSize,
  withPngSize,
} from './make-images.ts';

async function rejectsCode(promise: Promise<unknown>, code: ImageErrorCode): Promise<ImageError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof ImageError, `expected ImageError, got ${String(caught)}`);
  assert.equal(caught.code, code, `code of "${caught.message}"`);
  assert.ok(caught.message.length > 15, 'message is readable');
  return caught;
}

const W = 64;
const H = 48;

test('a plain JPEG decodes to RGB with its size and colours', async () => {
  const raw = gradientRaw(W, H);
  const jpeg = await fromRaw(raw, W, H).jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toBuffer();
  const img = await decodeImageNode(jpeg);
  assert.equal(img.format, 'jpeg');
  assert.equal(img.width, W);
  assert.equal(img.height, H);
  assert.equal(img.data.length, W * H * 3);
  assert.equal(img.alpha, undefined);
  assert.equal(img.orientation, 1);
  assert.equal(img.firstFrameOnly, false);
  assert.ok(near(pixelAt(img.data, W, W - 1, 0), [255, 0, 90], 6), `${pixelAt(img.data, W, W - 1, 0)}`);
  assert.ok(near(pixelAt(img.data, W, 0, H - 1), [0, 255, 90], 6), `${pixelAt(img.data, W, 0, H - 1)}`);
});

test('real photo: size matches sharp metadata', async () => {
  const bytes = readFileSync('node_modules/@vladmandic/face-api/demo/sample1.jpg');
  const meta = await sharp(bytes).metadata();
  const img = await decodeImageNode(bytes);
  assert.equal(img.format, 'jpeg');
  assert.equal(img.width, meta.autoOrient.width);
  assert.equal(img.height, meta.autoOrient.height);
  assert.ok(img.width > 100 && img.height > 100);
  assert.equal(img.data.length, img.width * img.height * 3);
  // A photo is not flat: the decoded pixels vary.
  const mean = img.data.reduce((sum, v) => sum + v, 0) / img.data.length;
  const variance = img.data.reduce((sum, v) => sum + (v - mean) ** 2, 0) / img.data.length;
  assert.ok(variance > 100, `variance ${variance}`);
});

test('EXIF orientation 6 is applied: sides swap and corners move', async () => {
  // Stored 64x48: red top-left, green top-right, blue bottom-left, white bottom-right.
  const jpeg = await fromRaw(quadrantsRaw(W, H, [RED, GREEN, BLUE, WHITE]), W, H)
    .withMetadata({ orientation: 6 })
    .jpeg({ quality: 95, chromaSubsampling: '4:4:4' })
    .toBuffer();
  assert.equal((await sharp(jpeg).metadata()).orientation, 6);
  const img = await decodeImageNode(jpeg);
  assert.equal(img.orientation, 6);
  assert.equal(img.width, H);
  assert.equal(img.height, W);
  // Orientation 6 = rotate 90 degrees clockwise to display: bottom-left (blue) becomes top-left,
  // top-left (red) becomes top-right, white becomes bottom-left.
  assert.ok(near(pixelAt(img.data, img.width, 2, 2), BLUE, 12), `${pixelAt(img.data, img.width, 2, 2)}`);
  assert.ok(near(pixelAt(img.data, img.width, img.width - 3, 2), RED, 12));
  assert.ok(near(pixelAt(img.data, img.width, 2, img.height - 3), WHITE, 12));
  assert.ok(near(pixelAt(img.data, img.width, img.width - 3, img.height - 3), GREEN, 12));
});

test('zero bytes: empty', async () => {
  await rejectsCode(decodeImageNode(new Uint8Array(0)), 'empty');
});

test('truncated JPEG: corrupt (sharp alone would fill it with grey)', async () => {
  const jpeg = await noisyJpeg();
  const cut = jpeg.subarray(0, jpeg.length >> 1);
  // The hazard this guards against: libvips with failOn 'none' returns a full-size image for half a file.
  const lenient = await sharp(cut, { failOn: 'none' }).raw().toBuffer({ resolveWithObject: true });
  assert.equal(lenient.info.width, 256);
  await rejectsCode(decodeImageNode(cut), 'corrupt');
  await rejectsCode(decodeImageNode(jpeg.subarray(0, 200)), 'corrupt');
});

test('truncated PNG: corrupt', async () => {
  const png = await noisyPng();
  await rejectsCode(decodeImageNode(png.subarray(0, png.length >> 1)), 'corrupt');
  // Cut short but with IEND put back: the header looks complete, libpng still fails on the missing data.
  const iend = png.subarray(png.length - 12);
  await rejectsCode(decodeImageNode(Buffer.concat([png.subarray(0, png.length >> 1), iend])), 'corrupt');
});

test('damaged bytes after a valid signature: corrupt', async () => {
  const junk = Buffer.alloc(4000);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) % 251;
  await rejectsCode(decodeImageNode(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), junk])), 'corrupt');
  const png = await noisyPng(32, 32);
  const damaged = Buffer.from(png);
  damaged.fill(0x55, 60, damaged.length - 12); // pixel data overwritten, IEND kept
  await rejectsCode(decodeImageNode(damaged), 'corrupt');
});

test('PNG bytes under a .jpg name decode as PNG (the format comes from the bytes)', async () => {
  const png = await fromRaw(quadrantsRaw(W, H, [RED, GREEN, BLUE, WHITE]), W, H).png().toBuffer();
  // Nothing but the bytes reaches the decoder; a caller that "knows" it is a .jpg cannot change the result.
  const img = await decodeImageNode(new Uint8Array(png));
  assert.equal(img.format, 'png');
  assert.deepEqual(pixelAt(img.data, W, 0, 0), RED);
  assert.deepEqual(pixelAt(img.data, W, W - 1, H - 1), WHITE);
});

test('a text file: unsupported-format', async () => {
  await rejectsCode(decodeImageNode(new TextEncoder().encode('Dear diary, today I took a photo.\n')), 'unsupported-format');
});

test('TIFF and SVG (which sharp could read) and BMP (which it cannot): unsupported-format', async () => {
  const tiff = await fromRaw(gradientRaw(W, H), W, H).tiff().toBuffer();
  await rejectsCode(decodeImageNode(tiff), 'unsupported-format');
  const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"></svg>');
  await rejectsCode(decodeImageNode(svg), 'unsupported-format');
  await rejectsCode(decodeImageNode(makeBmp(W, H, RED)), 'unsupported-format');
});

test('CMYK JPEG: converted to sRGB RGB', async () => {
  const source = quadrantsRaw(W, H, [RED, GREEN, BLUE, WHITE]);
  const cmyk = await fromRaw(source, W, H).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
  const meta = await sharp(cmyk).metadata();
  assert.equal(meta.space, 'cmyk');
  assert.equal(meta.channels, 4);
  const img = await decodeImageNode(cmyk);
  assert.equal(img.data.length, W * H * 3);
  // Colours survive the round trip through CMYK (loosely: CMYK gamut and profiles shift them a little).
  const tl = pixelAt(img.data, W, 4, 4);
  const br = pixelAt(img.data, W, W - 5, H - 5);
  assert.ok(tl[0] > 150 && tl[1] < 90 && tl[2] < 90, `red quadrant ${tl}`);
  assert.ok(br[0] > 200 && br[1] > 200 && br[2] > 200, `white quadrant ${br}`);
});

test('16-bit PNG: reduced to 8 bits, values scaled not truncated', async () => {
  const raw = gradientRaw(W, H);
  const png16 = await fromRaw(raw, W, H).toColourspace('rgb16').png().toBuffer();
  assert.equal((await sharp(png16).metadata()).depth, 'ushort');
  const img = await decodeImageNode(png16);
  assert.equal(img.data.length, W * H * 3);
  let maxDiff = 0;
  for (let i = 0; i < raw.length; i++) maxDiff = Math.max(maxDiff, Math.abs(img.data[i] - raw[i]));
  assert.ok(maxDiff <= 1, `max difference ${maxDiff}`);
});

test('grayscale JPEG: expanded to RGB with equal channels', async () => {
  const gray = await fromRaw(gradientRaw(W, H), W, H).toColourspace('b-w').jpeg().toBuffer();
  assert.equal((await sharp(gray).metadata()).channels, 1);
  const img = await decodeImageNode(gray);
  assert.equal(img.data.length, W * H * 3);
  let distinct = 0;
  for (let p = 0; p < W * H; p++) {
    const [r, g, b] = pixelAt(img.data, W, p % W, Math.floor(p / W));
    assert.ok(r === g && g === b, `pixel ${p} is ${r},${g},${b}`);
    if (r !== img.data[0]) distinct++;
  }
  assert.ok(distinct > 0, 'the gradient survived');
});

test('animated GIF: first frame only, flagged', async () => {
  const gif = await animatedGif(W, H, 3);
  assert.equal((await sharp(gif).metadata()).pages, 3);
  const img = await decodeImageNode(gif);
  assert.equal(img.format, 'gif');
  assert.equal(img.firstFrameOnly, true);
  assert.equal(img.width, W);
  assert.equal(img.height, H);
  assert.equal(img.alpha, undefined, 'opaque GIF has no alpha');
  assert.ok(near(pixelAt(img.data, W, 10, 10), [0, 50, 255], 4), `${pixelAt(img.data, W, 10, 10)}`);
  const still = await decodeImageNode(await animatedGif(W, H, 1));
  assert.equal(still.firstFrameOnly, false);
});

test('over maxPixels: too-large from the header, without decoding the pixels', async () => {
  // Headers that claim 8000x7000 (56 MP) over a tiny image: decoding would fail as corrupt, so too-large proves
  // the size was refused first.
  const png = withPngSize(await noisyPng(32, 32), 8000, 7000);
  const jpeg = withJpegSize(await noisyJpeg(32, 32), 8000, 7000);
  const started = Date.now();
  await rejectsCode(decodeImageNode(png), 'too-large');
  await rejectsCode(decodeImageNode(jpeg), 'too-large');
  assert.ok(Date.now() - started < 1000);
  // The same lie under the limit is not too-large: it reaches the decoder and fails there.
  await rejectsCode(decodeImageNode(withPngSize(await noisyPng(32, 32), 4000, 4000)), 'corrupt');
});

test('a real image over a custom maxPixels: too-large', async () => {
  const jpeg = await noisyJpeg(300, 200);
  await rejectsCode(decodeImageNode(jpeg, { maxPixels: 300 * 200 - 1 }), 'too-large');
  const img = await decodeImageNode(jpeg, { maxPixels: 300 * 200 });
  assert.equal(img.width, 300);
});

test('1x1 and under minSide: too-small', async () => {
  const one = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toBuffer();
  await rejectsCode(decodeImageNode(one), 'too-small');
  const thin = await sharp({ create: { width: 15, height: 400, channels: 3, background: '#808080' } }).png().toBuffer();
  await rejectsCode(decodeImageNode(thin), 'too-small');
  const ok = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).png().toBuffer();
  assert.equal((await decodeImageNode(ok)).width, 16);
  assert.equal((await decodeImageNode(thin, { minSide: 8 })).height, 400);
});

test('alpha: kept when some pixel is not opaque, dropped when all are', async () => {
  const rgba = Buffer.alloc(W * H * 4);
  for (let p = 0; p < W * H; p++) rgba.set([200, 100, 50, p % W < W / 2 ? 255 : 64], p * 4);
  const png = await fromRaw(rgba, W, H, 4).png().toBuffer();
  const img = await decodeImageNode(png);
  assert.ok(img.alpha);
  assert.equal(img.alpha.length, W * H);
  assert.equal(img.alpha[0], 255);
  assert.equal(img.alpha[W - 1], 64);
  assert.deepEqual(pixelAt(img.data, W, W - 1, 0), [200, 100, 50], 'colour under alpha is not premultiplied');

  for (let p = 0; p < W * H; p++) rgba[p * 4 + 3] = 255;
  const opaque = await decodeImageNode(await fromRaw(rgba, W, H, 4).png().toBuffer());
  assert.equal(opaque.alpha, undefined);
  assert.equal(opaque.data.length, W * H * 3);
});

test('WebP and AVIF decode', async () => {
  const raw = quadrantsRaw(W, H, [RED, GREEN, BLUE, WHITE]);
  const webp = await decodeImageNode(await fromRaw(raw, W, H).webp({ lossless: true }).toBuffer());
  assert.equal(webp.format, 'webp');
  assert.deepEqual(pixelAt(webp.data, W, 0, 0), RED);
  const avif = await decodeImageNode(await fromRaw(raw, W, H).avif({ quality: 90 }).toBuffer());
  assert.equal(avif.format, 'avif');
  assert.equal(avif.width, W);
  assert.ok(near(pixelAt(avif.data, W, 4, H - 5), BLUE, 25), `${pixelAt(avif.data, W, 4, H - 5)}`);
});

test('cut and damaged files of every format: always a DecodedImage or an ImageError, never anything else', async () => {
  const raw = gradientRaw(W, H);
  const sources = [
    await fromRaw(raw, W, H).jpeg().toBuffer(),
    await fromRaw(raw, W, H).jpeg({ progressive: true }).toBuffer(),
    await fromRaw(raw, W, H).png().toBuffer(),
    await fromRaw(raw, W, H).webp().toBuffer(),
    await fromRaw(raw, W, H).avif().toBuffer(),
    await animatedGif(W, H, 2),
  ];
  let cutRefused = 0;
  let decoded = 0;
  for (const source of sources) {
    const variants: Uint8Array[] = [];
    for (let k = 1; k < 12; k++) variants.push(source.subarray(0, Math.floor((source.length * k) / 12)));
    for (let k = 0; k < 12; k++) {
      const flipped = Buffer.from(source);
      const at = 2 + ((k * 7919) % (source.length - 2));
      flipped[at] ^= 0xff;
      variants.push(flipped);
    }
    for (const [index, bytes] of variants.entries()) {
      try {
        const img = await decodeImageNode(bytes);
        assert.equal(img.data.length, img.width * img.height * 3);
        decoded++;
      } catch (error) {
        assert.ok(error instanceof ImageError, `${String(error)}`);
        if (index < 11) cutRefused++;
      }
    }
  }
  // Every cut file is refused; single-byte flips may or may not still decode.
  assert.equal(cutRefused, sources.length * 11, `${cutRefused} cut files refused, ${decoded} variants decoded`);
});
