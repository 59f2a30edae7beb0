import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImageNode } from '../../../src/engine/image/decode-node.ts';
import { encodeImageNode } from '../../../src/engine/image/encode-node.ts';
import { BLUE, GREEN, RED, WHITE, fromRaw, gradientRaw, near, pixelAt, quadrantsRaw } from './make-images.ts';

const W = 64;
const H = 48;

test('JPEG: round trip, 4:4:4, quality 92 by default, no EXIF', async () => {
  // Start from a photo-like JPEG that carries EXIF (orientation) and check none of it comes out.
  const withExif = await fromRaw(gradientRaw(W, H), W, H).withMetadata({ orientation: 1 }).jpeg().toBuffer();
  assert.notEqual((await sharp(withExif).metadata()).exif, undefined, 'the input does carry EXIF');
  const decoded = await decodeImageNode(withExif);
  const out = await encodeImageNode(decoded, 'jpeg');
  const meta = await sharp(out).metadata();
  assert.equal(meta.format, 'jpeg');
  assert.equal(meta.exif, undefined);
  assert.equal(meta.icc, undefined);
  assert.equal(meta.xmp, undefined);
  assert.equal(meta.chromaSubsampling, '4:4:4');
  assert.equal(meta.width, W);
  assert.equal(meta.height, H);
  const again = await decodeImageNode(out);
  assert.ok(near(pixelAt(again.data, W, W - 1, H - 1), pixelAt(decoded.data, W, W - 1, H - 1), 8));
  // Quality is passed through: lower quality, smaller file.
  const low = await encodeImageNode(decoded, 'jpeg', { quality: 30 });
  assert.ok(low.length < out.length, `${low.length} < ${out.length}`);
});

test('PNG: keeps alpha and exact pixels', async () => {
  const data = quadrantsRaw(W, H, [RED, GREEN, BLUE, WHITE]);
  const alpha = new Uint8Array(W * H);
  for (let p = 0; p < W * H; p++) alpha[p] = p % W;
  const out = await encodeImageNode({ width: W, height: H, data, alpha }, 'png');
  const meta = await sharp(out).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.hasAlpha, true);
  assert.equal(meta.exif, undefined);
  const back = await decodeImageNode(out);
  assert.ok(back.alpha);
  assert.deepEqual(Array.from(back.alpha), Array.from(alpha));
  assert.deepEqual(Array.from(back.data), Array.from(data));
});

test('PNG without alpha stays RGB', async () => {
  const out = await encodeImageNode({ width: W, height: H, data: gradientRaw(W, H) }, 'png');
  const meta = await sharp(out).metadata();
  assert.equal(meta.channels, 3);
  assert.equal(meta.hasAlpha, false);
});

test('WebP: round trip with alpha', async () => {
  const data = quadrantsRaw(W, H, [RED, GREEN, BLUE, WHITE]);
  const alpha = new Uint8Array(W * H).fill(255);
  alpha.fill(0, 0, W * 4);
  const out = await encodeImageNode({ width: W, height: H, data, alpha }, 'webp');
  const back = await decodeImageNode(out);
  assert.equal(back.format, 'webp');
  assert.ok(back.alpha);
  assert.equal(back.alpha[0], 0);
  assert.equal(back.alpha[W * H - 1], 255);
  assert.ok(near(pixelAt(back.data, W, W - 3, H - 3), WHITE, 10));
});

test('JPEG of a transparent image is flattened onto white', async () => {
  const data = new Uint8Array(W * H * 3); // black
  const alpha = new Uint8Array(W * H); // fully transparent
  const back = await decodeImageNode(await encodeImageNode({ width: W, height: H, data, alpha }, 'jpeg'));
  assert.ok(near(pixelAt(back.data, W, 10, 10), [255, 255, 255], 3), `${pixelAt(back.data, W, 10, 10)}`);
});

test('bad input to the encoder is a RangeError', async () => {
  await assert.rejects(encodeImageNode({ width: W, height: H, data: new Uint8Array(10) }, 'png'), RangeError);
  await assert.rejects(
    encodeImageNode({ width: W, height: H, data: new Uint8Array(W * H * 3) }, 'jpeg', { quality: 0 }),
    RangeError,
  );
});
