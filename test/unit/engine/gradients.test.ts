// Input gradients through alignment and every recognizer, checked against finite differences on wasm and cpu.
// This is what the cloak optimises, so a wrong gradient here would make every cloak silently weak.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { type BackendName, useBackend } from '../../../src/engine/backends/backends.ts';
import { checkInputGradient, cosineSimilarity, cropAroundFace } from '../../../src/engine/diagnostics/gradient-check.ts';
import { createFaceDetector } from '../../../src/engine/detect/detector.ts';
import type { Point } from '../../../src/engine/faces/types.ts';
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
  ({ photo: face, landmarks } = cropAroundFace(image, first));
});

async function directionalCheck(backend: BackendName, id: (typeof recognizerIds)[number]) {
  await useBackend([backend]);
  const recognizer = await loadRecognizer(id, readModelFileNode);
  try {
    return await checkInputGradient(recognizer, face, landmarks);
  } finally {
    recognizer.dispose();
  }
}

const gradients = new Map<string, Float32Array>();

for (const backend of ['wasm', 'cpu'] as const) {
  for (const id of recognizerIds) {
    test(`input gradient of ${id} through alignment matches finite differences on ${backend}`, async () => {
      const before = tf.memory().numTensors;
      const { analytic, numeric, gradient, relativeError: relative } = await directionalCheck(backend, id);
      gradients.set(`${backend} ${id}`, gradient);
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
    assert.ok(cpu.some((value) => value !== 0), 'the gradient is not zero');
    const cosine = cosineSimilarity(wasm, cpu);
    assert.ok(cosine > 0.9999, `cosine ${cosine}`);
  });
}
