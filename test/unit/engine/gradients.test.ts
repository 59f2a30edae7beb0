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
 * float32 and ReLU kinks make h too small noisy and too large biased; h = 0.5 grey levels sits between.
 */
async function directionalCheck(backend: BackendName, id: (typeof recognizerIds)[number]) {
  await useBackend([backend]);
  const recognizer = await loadRecognizer(id, readModelFileNode);
  const alignment: FaceAlignment = alignmentFor(landmarks, recognizer.inputSize, recognizer.cropScale);
  const photo = tf.tensor3d(face.data, [face.height, face.width, 3], 'float32');
  const v = tf.randomNormal([1, recognizer.entry.embedding!.dim], 0, 1, 'float32', 7);
  const d = tf.tidy(() => tf.sub(tf.mul(tf.cast(tf.greater(tf.randomUniform(photo.shape, 0, 1, 'float32', 11), 0.5), 'float32'), 2), 1));
  const loss = (x: tf.Tensor) => tf.sum(tf.mul(recognizer.embed(warpFaces(x as tf.Tensor3D, [alignment])), v));
  const h = 0.5;
  try {
    const analytic = tf.tidy(() => tf.sum(tf.mul(tf.grad(loss)(photo), d)));
    const plus = tf.tidy(() => loss(tf.add(photo, tf.mul(d, h))));
    const minus = tf.tidy(() => loss(tf.sub(photo, tf.mul(d, h))));
    const [g] = await analytic.data();
    const numeric = ((await plus.data())[0] - (await minus.data())[0]) / (2 * h);
    tf.dispose([analytic, plus, minus]);
    return { analytic: g, numeric };
  } finally {
    tf.dispose([photo, v, d]);
    recognizer.dispose();
  }
}

for (const backend of ['wasm', 'cpu'] as const) {
  for (const id of recognizerIds) {
    test(`input gradient of ${id} through alignment matches finite differences on ${backend}`, async () => {
      const before = tf.memory().numTensors;
      const { analytic, numeric } = await directionalCheck(backend, id);
      const relative = Math.abs(analytic - numeric) / Math.max(Math.abs(numeric), 1e-6);
      assert.ok(Math.abs(numeric) > 1e-4, `the loss must actually move (numeric ${numeric})`);
      assert.ok(relative < 0.05, `analytic ${analytic} vs numeric ${numeric} (relative error ${relative.toFixed(4)})`);
      assert.equal(tf.memory().numTensors, before, 'tensors leaked');
    });
  }
}
