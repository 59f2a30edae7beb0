// The face analyzer end to end on a real photo: every face embedded by every recognizer, the same person's face
// closer to itself after JPEG re-encoding than to the other faces, and no tensors left behind over repeated runs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../../src/engine/backends/backends.ts';
import { cosineSimilarity } from '../../../src/engine/diagnostics/gradient-check.ts';
import type { FaceAnalyzer } from '../../../src/engine/faces/types.ts';
import { decodeImageNode } from '../../../src/engine/image/decode-node.ts';
import { encodeImageNode } from '../../../src/engine/image/encode-node.ts';
import { readModelFileNode } from '../../../src/engine/models/read-node.ts';
import { createFaceAnalyzer } from '../../../src/engine/pipeline.ts';
import { recognizerIds } from '../../../src/engine/recognizers/zoo.ts';
import { demoPhoto } from '../../support/photos.ts';

let analyzer: FaceAnalyzer;

before(async () => {
  await useBackend(['wasm']);
  analyzer = await createFaceAnalyzer(readModelFileNode);
});
after(() => analyzer.dispose());

test('every face gets a unit embedding from every recognizer; a face matches itself after JPEG q75 best', async () => {
  const { image } = await demoPhoto('sample1.jpg');
  const faces = await analyzer.analyze(image);
  assert.ok(faces.length >= 3);
  for (const face of faces) {
    for (const id of recognizerIds) {
      const e = face.embeddings[id];
      assert.ok(e, `${id} missing`);
      assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-3);
    }
  }
  const reencoded = await decodeImageNode(await encodeImageNode(image, 'jpeg', { quality: 75 }));
  const again = await analyzer.analyze(reencoded);
  for (const id of recognizerIds) {
    const same = cosineSimilarity(faces[0].embeddings[id]!, again[0].embeddings[id]!);
    const others = faces.slice(1).map((f) => cosineSimilarity(faces[0].embeddings[id]!, f.embeddings[id]!));
    assert.ok(same > Math.max(...others), `${id}: self ${same} vs others ${others}`);
    assert.ok(same > 0.9, `${id}: JPEG q75 moved the embedding to ${same}`);
  }
});

test('repeated analyses leave the tensor count flat', async () => {
  const { image } = await demoPhoto('sample2.jpg');
  await analyzer.analyze(image);
  const baseline = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) await analyzer.analyze(image);
  assert.equal(tf.memory().numTensors, baseline);
});

test('disposing the analyzer frees every model tensor', async () => {
  const before = tf.memory().numTensors;
  const second = await createFaceAnalyzer(readModelFileNode);
  assert.ok(tf.memory().numTensors > before);
  second.dispose();
  assert.equal(tf.memory().numTensors, before);
});
