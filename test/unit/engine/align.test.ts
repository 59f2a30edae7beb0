// Alignment geometry and the differentiable warp.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  applySimilarity,
  arcfaceTemplate112,
  estimateSimilarity,
  invertSimilarity,
  templateFor,
  warpFace,
} from '../../../src/engine/align/align.ts';
import { useBackend } from '../../../src/engine/backends/backends.ts';

before(async () => {
  await useBackend(['wasm']);
});

const close = (a: number, b: number, tolerance = 1e-4) => Math.abs(a - b) <= tolerance;

test('estimateSimilarity recovers a known rotation, scale and shift', () => {
  const angle = 0.3;
  const scale = 1.7;
  const truth = { a: scale * Math.cos(angle), b: scale * Math.sin(angle), tx: 12, ty: -5 };
  const from = arcfaceTemplate112.map((p) => ({ ...p }));
  const to = from.map((p) => applySimilarity(truth, p));
  const m = estimateSimilarity(from, to);
  for (const key of ['a', 'b', 'tx', 'ty'] as const) assert.ok(close(m[key], truth[key]), `${key}: ${m[key]} vs ${truth[key]}`);
  const back = invertSimilarity(m);
  const p = applySimilarity(back, applySimilarity(m, { x: 3, y: 4 }));
  assert.ok(close(p.x, 3) && close(p.y, 4));
});

test('templateFor scales the ArcFace template to other crop sizes and zooms around the centre', () => {
  assert.deepEqual(templateFor(112), arcfaceTemplate112.map((p) => ({ x: p.x, y: p.y })));
  const t224 = templateFor(224);
  assert.ok(close(t224[0].x, arcfaceTemplate112[0].x * 2));
  const tight = templateFor(112, 1.2);
  assert.ok(tight[1].x - tight[0].x > arcfaceTemplate112[1].x - arcfaceTemplate112[0].x);
});

test('warpFace with a pure shift copies pixels, and a 4x downscale box-filters instead of aliasing', async () => {
  const width = 64;
  const height = 48;
  const data = new Float32Array(width * height * 3).map((_, i) => (i * 37) % 251);
  const photo = tf.tensor3d(data, [height, width, 3]);
  // Crop pixel (u, v) = photo pixel (u + 10, v + 7).
  const shifted = warpFace(photo, { size: 16, photoToCrop: { a: 1, b: 0, tx: -10, ty: -7 } });
  const values = await shifted.data();
  for (const [u, v] of [[0, 0], [5, 9], [15, 15]]) {
    for (let c = 0; c < 3; c++) {
      assert.equal(values[(v * 16 + u) * 3 + c], data[((v + 7) * width + (u + 10)) * 3 + c]);
    }
  }
  // A stripe pattern with period 2 averages to its mean when shrunk 4x; plain bilinear would sample one phase.
  const stripes = tf.tidy(() => tf.tile(tf.tensor3d([0, 0, 0, 200, 200, 200], [1, 2, 3]), [64, 32, 1])) as tf.Tensor3D;
  const small = warpFace(stripes, { size: 16, photoToCrop: { a: 0.25, b: 0, tx: 0, ty: 0 } });
  const smallValues = await small.data();
  const centre = smallValues[(8 * 16 + 8) * 3];
  assert.ok(Math.abs(centre - 100) < 1, `box-filtered value ${centre}`);
  tf.dispose([photo, shifted, stripes, small]);
});

test('the warp is differentiable with respect to the photo (gather gradient) and leaks nothing', async () => {
  const photo = tf.randomUniform([40, 50, 3], 0, 255, 'float32', 2) as tf.Tensor3D;
  const m = estimateSimilarity(templateFor(20), templateFor(20).map((p) => ({ x: p.x * 1.3 + 8, y: p.y * 1.3 + 5 })));
  const alignment = { size: 20, photoToCrop: invertSimilarity(m) };
  const weights = tf.randomNormal([20, 20, 3], 0, 1, 'float32', 4);
  const before = tf.memory().numTensors;
  const loss = (x: tf.Tensor) => tf.sum(tf.mul(warpFace(x as tf.Tensor3D, alignment), weights));
  const gradient = tf.grad(loss)(photo);
  // The warp is linear in the photo, so the gradient is exact: check one direction.
  const direction = tf.randomNormal(photo.shape, 0, 1, 'float32', 6);
  const predicted = tf.tidy(() => tf.sum(tf.mul(gradient, direction)));
  const actual = tf.tidy(() => tf.sub(loss(tf.add(photo, direction)), loss(photo)));
  assert.ok(close((await predicted.data())[0], (await actual.data())[0], 1e-2));
  tf.dispose([gradient, direction, predicted, actual]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([photo, weights]);
});
