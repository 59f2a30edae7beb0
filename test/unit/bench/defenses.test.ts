import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { allDefenses, selectDefenses } from '../../../bench/protection/defenses.ts';
import { mulberry32 } from '../../../bench/lib/prng.ts';

/** Textured RGB: smooth gradient plus seeded noise, so every filter has something to change. */
function textureRaw(width: number, height: number, seed = 1): Buffer {
  const r = mulberry32(seed);
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const n = (r() - 0.5) * 120;
      raw[o] = Math.max(0, Math.min(255, Math.round((x * 255) / width + n)));
      raw[o + 1] = Math.max(0, Math.min(255, Math.round((y * 255) / height - n)));
      raw[o + 2] = Math.max(0, Math.min(255, Math.round(128 + n)));
    }
  }
  return raw;
}

async function png(raw: Buffer, width: number, height: number): Promise<Uint8Array> {
  return new Uint8Array(await sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer());
}

async function decode(bytes: Uint8Array) {
  const { data, info } = await sharp(bytes).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

function meanAbsDiff(a: Buffer, b: Buffer): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** Mean squared difference of horizontally adjacent samples: high-frequency energy. */
function roughness(img: { data: Buffer; width: number; height: number }): number {
  let s = 0;
  let n = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 1; x < img.width; x++) {
      const o = (y * img.width + x) * 3;
      s += (img.data[o] - img.data[o - 3]) ** 2;
      n++;
    }
  }
  return s / n;
}

const W = 160;
const H = 120;
const byId = (id: string) => allDefenses.find((d) => d.id === id)!;

test('every defense keeps the size of a small photo; all but none and the downscales change its pixels', async () => {
  const input = await png(textureRaw(W, H), W, H);
  const original = await decode(input);
  for (const defense of allDefenses) {
    const out = await defense.apply(input);
    const img = await decode(out);
    assert.equal(img.width, W, defense.id);
    assert.equal(img.height, H, defense.id);
    const diff = meanAbsDiff(original.data, img.data);
    if (defense.id === 'none' || defense.id.startsWith('down')) {
      assert.equal(out, input, `${defense.id} should return the input bytes unchanged`);
    } else {
      assert.ok(diff > 1, `${defense.id} changed the pixels by only ${diff}`);
    }
  }
});

test('blurs and medians remove high-frequency energy; stronger kernels remove more', async () => {
  const input = await png(textureRaw(W, H), W, H);
  const base = roughness(await decode(input));
  const r = async (id: string) => roughness(await decode(await byId(id).apply(input)));
  const [g, m5, m9, b5, b9] = await Promise.all(['gauss1.5', 'median5', 'median9', 'box5', 'box9'].map(r));
  for (const [id, v] of Object.entries({ g, m5, m9, b5, b9 })) assert.ok(v < base / 4, `${id}: ${v} vs ${base}`);
  assert.ok(m9 < m5, `median9 ${m9} should be smoother than median5 ${m5}`);
  assert.ok(b9 < b5, `box9 ${b9} should be smoother than box5 ${b5}`);
});

test('box blur is normalised: a flat image stays flat at the same level', async () => {
  const flat = Buffer.alloc(W * H * 3, 77);
  const input = await png(flat, W, H);
  for (const id of ['box5', 'box9', 'gauss1.5', 'median9']) {
    const img = await decode(await byId(id).apply(input));
    assert.ok(img.data.every((v) => v === 77), `${id} changed a flat image`);
  }
});

test('compression defenses write the expected formats, q75 smaller than q85', async () => {
  const input = await png(textureRaw(W, H), W, H);
  const q85 = await byId('jpeg85').apply(input);
  const q75 = await byId('jpeg75').apply(input);
  const webp = await byId('webp80').apply(input);
  assert.equal((await sharp(q85).metadata()).format, 'jpeg');
  assert.equal((await sharp(webp).metadata()).format, 'webp');
  assert.equal((await sharp(await byId('median5').apply(input)).metadata()).format, 'png');
  assert.ok(q75.length < q85.length, `q75 ${q75.length} vs q85 ${q85.length}`);
});

test('downscales bring the long side to the target, keep the aspect ratio, kernels differ', async () => {
  const w = 2400;
  const h = 1200;
  const input = new Uint8Array(await sharp(textureRaw(w, h), { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 95 }).toBuffer());
  const sizes: Record<string, [number, number]> = {};
  const outs: Record<string, Uint8Array> = {};
  for (const id of ['down2048-bilinear', 'down2048-lanczos', 'down1080-bilinear', 'down1080-lanczos']) {
    outs[id] = await byId(id).apply(input);
    const meta = await sharp(outs[id]).metadata();
    sizes[id] = [meta.width!, meta.height!];
  }
  assert.deepEqual(sizes['down2048-bilinear'], [2048, 1024]);
  assert.deepEqual(sizes['down2048-lanczos'], [2048, 1024]);
  assert.deepEqual(sizes['down1080-bilinear'], [1080, 540]);
  assert.deepEqual(sizes['down1080-lanczos'], [1080, 540]);
  const a = await decode(outs['down1080-bilinear']);
  const b = await decode(outs['down1080-lanczos']);
  assert.ok(meanAbsDiff(a.data, b.data) > 0.1, 'bilinear and lanczos gave the same pixels');
  // Exactly at the target: unchanged.
  const at = new Uint8Array(await sharp(textureRaw(1080, 500), { raw: { width: 1080, height: 500, channels: 3 } }).png().toBuffer());
  assert.equal(await byId('down1080-lanczos').apply(at), at);
});

test('EXIF orientation is applied before defending', async () => {
  const rotated = new Uint8Array(
    await sharp(textureRaw(40, 20), { raw: { width: 40, height: 20, channels: 3 } }).withMetadata({ orientation: 6 }).jpeg().toBuffer(),
  );
  const meta = await sharp(await byId('jpeg85').apply(rotated)).metadata();
  assert.equal(meta.width, 20);
  assert.equal(meta.height, 40);
  assert.ok(meta.orientation === undefined || meta.orientation === 1);
});

test('selectDefenses: all, a list (always with none), unknown ids refused', () => {
  assert.equal(selectDefenses('all').length, 13);
  assert.deepEqual(selectDefenses('jpeg75,box5').map((d) => d.id), ['none', 'jpeg75', 'box5']);
  assert.throws(() => selectDefenses('jpeg75,nope'), /nope/);
});
