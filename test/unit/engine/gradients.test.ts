// Input gradients through alignment and every recognizer, checked against finite differences on wasm and cpu.
// This is what the cloak optimises, so a wrong gradient here would make every cloak silently weak.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { type FaceAlignment, alignmentFor, warpFaces } from '../../../src/engine/align/align.ts';
import { type BackendName, useBackend } from '../../../src/engine/backends/backends.ts';
import { createFaceDetector } from '../../../src/engine/detect/detector.ts';
import type { Point } from '../../../src/engine/faces/types.ts';
import { cropRgb } from '../../../src/engine/image/pixels.ts';
import type { RgbImage } from '../../../src/engine/image/types.ts';
import { readModelFileNode } from '../../../src/engine/models/read-node.ts';
import { loadRecognizer, recognizerIds } from '../../../src/engine/recognizers/zoo.ts';
import { demoPhoto } from '../../support/photos.ts';

let face: RgbImage;
let landmarks: Point[];

before(async () => {
  await useBackend(['wasm']);
  const { image } = await demoPhoto('sample1.jpg');
  const detector = await createFaceDetector(readModelFileNode);
  const [first] = await detector.detect(image);
  detector.dispose();
  // A margin around the face keeps the check cheap on cpu while exercising the full-photo warp.
  const margin = first.box.width * 0.4;
  const box = {
    x: Math.max(0, Math.round(first.box.x - margin)),
    y: Math.max(0, Math.round(first.box.y - margin)),
    width: Math.round(first.box.width + 2 * margin),
    height: Math.round(first.box.height + 2 * margin),
  };
  face = cropRgb(image, box);
  landmarks = first.landmarks.map((p) => ({ x: p.x - box.x, y: p.y - box.y }));
});

/**
 * Central difference of L(x) = <embed(warp(x)), v> along a random ±1 direction d, against <grad L, d>.
 * The models clip activations (ReLU, min/max), so large steps cross kinks and bias the difference (h = 0.5 grey
 * levels was off by 10-35 % on faceres while cpu and wasm gradients agreed to 1e-5); h = 0.05 is still far above
 * float32 noise for these losses. Several steps are taken and the closest must agree: a wrong gradient (a kernel
 * bug, a missing term) is far from all of them, while kink-crossing bias shrinks with h.
 */
const steps = [0.1, 0.05, 0.02, 0.01];

async function directionalCheck(backend: BackendName, id: (typeof recognizerIds)[number]) {
  await useBackend([backend]);
  const recognizer = await loadRecognizer(id, readModelFileNode);
  const alignment: FaceAlignment = alignmentFor(landmarks, recognizer.inputSize, recognizer.cropScale);
  const photo = tf.tensor3d(face.data, [face.height, face.width, 3], 'float32');
  const v = tf.randomNormal([1, recognizer.entry.embedding!.dim], 0, 1, 'float32', 7);
  const d = tf.tidy(() => tf.sub(tf.mul(tf.cast(tf.greater(tf.randomUniform(photo.shape, 0, 1, 'float32', 11), 0.5), 'float32'), 2), 1));
  const loss = (x: tf.Tensor) => tf.sum(tf.mul(recognizer.embed(warpFaces(x as tf.Tensor3D, [alignment])), v));
  try {
    const full = tf.grad(loss)(photo);
    const analytic = tf.tidy(() => tf.sum(tf.mul(full, d)));
    const [g] = await analytic.data();
    const gradient = (await full.data()) as Float32Array;
    tf.dispose([full, analytic]);
    const numeric: number[] = [];
    for (const h of steps) {
      const difference = tf.tidy(() => tf.div(tf.sub(loss(tf.add(photo, tf.mul(d, h))), loss(tf.sub(photo, tf.mul(d, h)))), 2 * h));
      numeric.push((await difference.data())[0]);
      difference.dispose();
    }
    return { analytic: g, numeric, gradient };
  } finally {
    tf.dispose([photo, v, d]);
    recognizer.dispose();
  }
}

const gradients = new Map<string, Float32Array>();

for (const backend of ['wasm', 'cpu'] as const) {
  for (const id of recognizerIds) {
    test(`input gradient of ${id} through alignment matches finite differences on ${backend}`, async () => {
      const before = tf.memory().numTensors;
      const { analytic, numeric, gradient } = await directionalCheck(backend, id);
      gradients.set(`${backend} ${id}`, gradient);
      const relative = Math.min(...numeric.map((n) => Math.abs(analytic - n) / Math.max(Math.abs(n), 1e-6)));
      assert.ok(Math.abs(numeric[0]) > 1e-4, `the loss must actually move (numeric ${numeric[0]})`);
      assert.ok(relative < 0.05, `analytic ${analytic} vs numeric ${numeric.join(', ')} (relative error ${relative.toFixed(4)})`);
      assert.equal(tf.memory().numTensors, before, 'tensors leaked');
    });
  }
}

for (const id of recognizerIds) {
  test(`wasm (with our backward kernels) and cpu give the same full input gradient for ${id}`, () => {
    const wasm = gradients.get(`wasm ${id}`);
    const cpu = gradients.get(`cpu ${id}`);
    assert.ok(wasm && cpu, 'both backends ran');
    let dot = 0;
    let wasmNorm = 0;
    let cpuNorm = 0;
    for (let i = 0; i < wasm.length; i++) {
      dot += wasm[i] * cpu[i];
      wasmNorm += wasm[i] ** 2;
      cpuNorm += cpu[i] ** 2;
    }
    assert.ok(cpuNorm > 0, 'the gradient is not zero');
    const cosine = dot / Math.sqrt(wasmNorm * cpuNorm);
    assert.ok(cosine > 0.9999, `cosine ${cosine}`);
    assert.ok(Math.abs(Math.sqrt(wasmNorm / cpuNorm) - 1) < 1e-3);
  });
}
