import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { addUniformNoise, boxMask, createCloakers, createNoiseCloaker, decoyChooser, noneCloaker } from '../../../bench/protection/cloakers.ts';
import type { Decoy } from '../../../src/engine/cloak/engine.ts';
import type { RgbImage } from '../../../src/engine/image/types.ts';
import { loadFixtures } from '../../../bench/lib/fixtures.ts';
import { sharedFacesDir } from '../../support/photos.ts';

const W = 96;
const H = 64;

function smoothRaw(): Buffer {
  const raw = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      raw[o] = 60 + x;
      raw[o + 1] = 80 + y;
      raw[o + 2] = 120;
    }
  }
  return raw;
}

async function decode(bytes: Uint8Array) {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

test('none returns the very same bytes', async () => {
  const file = new Uint8Array([1, 2, 3, 4]);
  assert.equal(await noneCloaker.cloak(file, { seed: 1 }), file);
});

test('addUniformNoise stays within ±eps, only in the mask, and is seeded', () => {
  const image = { width: W, height: H, data: new Uint8Array(smoothRaw()) };
  const mask = boxMask(W, H, [{ x: 20, y: 10, width: 30, height: 20 }], 0);
  const a = addUniformNoise(image, mask, 8, 42);
  const b = addUniformNoise(image, mask, 8, 42);
  const c = addUniformNoise(image, mask, 8, 43);
  assert.deepEqual(a.data, b.data);
  assert.notDeepEqual(a.data, c.data);
  let inside = 0;
  let changedInside = 0;
  for (let p = 0; p < W * H; p++) {
    for (let ch = 0; ch < 3; ch++) {
      const d = a.data[p * 3 + ch] - image.data[p * 3 + ch];
      assert.ok(Math.abs(d) <= 8);
      if (mask[p]) {
        inside++;
        if (d !== 0) changedInside++;
      } else assert.equal(d, 0);
    }
  }
  assert.equal(inside, 30 * 20 * 3);
  assert.ok(changedInside > inside * 0.8, `${changedInside} of ${inside} changed`);
  assert.equal(image.data[0], 60, 'the input must not be modified');
});

test('boxMask grows boxes by the margin and clamps them', () => {
  const mask = boxMask(10, 10, [{ x: 2, y: 2, width: 4, height: 4 }], 0.25);
  assert.equal(mask.reduce((s, v) => s + v, 0), 36); // 1..7 x 1..7
  const clamped = boxMask(10, 10, [{ x: -5, y: -5, width: 8, height: 8 }], 0);
  assert.equal(clamped.reduce((s, v) => s + v, 0), 9);
});

test('noise cloaker: JPEG out, same size, noise on the face box and not far from it', async () => {
  const input = new Uint8Array(await sharp(smoothRaw(), { raw: { width: W, height: H, channels: 3 } }).png().toBuffer());
  const box = { x: 8, y: 8, width: 24, height: 24 };
  const cloaker = createNoiseCloaker({ epsilon: 8, findFaces: async () => [box], boxMargin: 0 });
  const out = await cloaker.cloak(input, { seed: 7 });
  assert.equal((await sharp(out).metadata()).format, 'jpeg');
  const before = await decode(input);
  const after = await decode(out);
  assert.equal(after.width, W);
  assert.equal(after.height, H);
  const meanDiff = (x0: number, y0: number, x1: number, y1: number) => {
    let s = 0;
    let n = 0;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        for (let c = 0; c < 3; c++) {
          s += Math.abs(after.data[(y * W + x) * 3 + c] - before.data[(y * W + x) * 3 + c]);
          n++;
        }
      }
    }
    return s / n;
  };
  const inFace = meanDiff(8, 8, 32, 32);
  const farAway = meanDiff(56, 32, 96, 64);
  assert.ok(inFace > 2.5, `noise in the face box: ${inFace}`);
  assert.ok(farAway < 1, `change far from the face: ${farAway}`);
  // The same seed gives the same file.
  assert.deepEqual(await cloaker.cloak(input, { seed: 7 }), out);
});

test('noise cloaker without faces noises the whole photo', async () => {
  const input = new Uint8Array(await sharp(smoothRaw(), { raw: { width: W, height: H, channels: 3 } }).png().toBuffer());
  const cloaker = createNoiseCloaker({ epsilon: 8, findFaces: async () => [] });
  const after = await decode(await cloaker.cloak(input, { seed: 1 }));
  const before = await decode(input);
  let s = 0;
  for (let i = (H - 16) * W * 3; i < before.data.length; i++) s += Math.abs(after.data[i] - before.data[i]);
  assert.ok(s / (16 * W * 3) > 2.5);
});

test('createCloakers refuses unknown ids', async () => {
  await assert.rejects(
    createCloakers(['none', 'nope'], { readModelFile: async () => new Uint8Array(), noiseEpsilon: 8 }),
    /nope/,
  );
  const [none] = await createCloakers(['none'], { readModelFile: async () => new Uint8Array(), noiseEpsilon: 8 });
  assert.equal(none.id, 'none');
});

test("targeted cloakers give each person one decoy: another person's, the least like theirs to the ensemble", async () => {
  // A stand-in ensemble whose "embedding" is the photo's normalised mean colour: the choice rule is what is tested.
  const made = new Map<Decoy, number[]>();
  const engine = {
    ensemble: ['human-mobileface'] as const,
    async makeDecoy(image: RgbImage): Promise<Decoy> {
      const sum = [0, 0, 0];
      for (let i = 0; i < image.data.length; i++) sum[i % 3] += image.data[i];
      const norm = Math.hypot(...sum);
      const embedding = sum.map((v) => v / norm);
      const decoy = { embeddings: { 'human-mobileface': embedding } };
      made.set(decoy, embedding);
      return decoy;
    },
  };
  const choose = await decoyChooser(engine, sharedFacesDir);
  const identities = [...new Set((await loadFixtures(sharedFacesDir)).photos.map((p) => p.identity))];
  assert.equal(made.size, identities.length, 'one reference photo per identity');
  const own = (identity: string) => [...made.values()][identities.indexOf(identity)];
  const cosine = (a: number[], b: number[]) => a.reduce((sum, v, i) => sum + v * b[i], 0);
  for (const identity of identities) {
    const choice = choose(identity);
    assert.notEqual(choice.identity, identity);
    assert.ok(choice.file.includes(`/${choice.identity}/`), choice.file);
    assert.equal(choose(identity), choice, 'the same decoy every time');
    const chosen = cosine(own(identity), made.get(choice.decoy)!);
    for (const other of identities.filter((i) => i !== identity)) {
      assert.ok(chosen <= cosine(own(identity), own(other)) + 1e-12, `${identity}: ${choice.identity} is not the least similar`);
    }
  }
  assert.throws(() => choose('nobody'), /no reference photo/);
});
