// The protection estimate the popup shows: honest labelling (seen vs held out), re-detection through defenses, a
// clean photo estimated as unprotected, and no leaked tensors.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../../src/engine/backends/backends.ts';
import { type CloakEngine, createCloakEngine } from '../../../src/engine/cloak/engine.ts';
import { jpegRoundTripNode } from '../../../src/engine/image/encode-node.ts';
import type { RgbImage } from '../../../src/engine/image/types.ts';
import { readModelFileNode } from '../../../src/engine/models/read-node.ts';
import { recognizerIds } from '../../../src/engine/recognizers/zoo.ts';
import { demoPhoto } from '../../support/photos.ts';

let engine: CloakEngine;
let image: RgbImage;

before(async () => {
  await useBackend(['wasm']);
  // The fast recognizer as the whole ensemble, so the three others are held out.
  engine = await createCloakEngine(readModelFileNode, { ensemble: ['human-mobileface'], jpeg: jpegRoundTripNode });
  ({ image } = await demoPhoto('sample2.jpg'));
});
after(() => engine.dispose());

test('a clean photo is estimated as matched by every recognizer when nothing is done to it', async () => {
  const estimate = await engine.estimateProtection(image, image);
  assert.ok(estimate.faces >= 1);
  assert.deepEqual(estimate.recognizers.map((r) => r.id).sort(), [...recognizerIds].sort());
  assert.deepEqual(estimate.defenses.map((d) => d.id), ['none', 'jpeg75', 'gauss1.5', 'median5', 'resize0.5']);
  assert.equal(estimate.cells.length, recognizerIds.length * 5);
  for (const cell of estimate.cells.filter((c) => c.defense === 'none')) {
    assert.equal(cell.protectedFaces, 0, `${cell.recognizer} should match the clean face`);
    assert.ok(cell.meanSimilarity! > 0.99, `${cell.recognizer} similarity ${cell.meanSimilarity}`);
  }
  assert.ok(estimate.heldOutProtection! < 0.2, `clean photo estimated ${estimate.heldOutProtection}`);
});

test('after a cloak, the seen recognizer is marked and the headline comes from held-out recognizers only', async () => {
  const cloaked = await engine.cloak(image, { strength: 'mid', seed: 2 });
  const before = tf.memory().numTensors;
  const estimate = await engine.estimateProtection(image, cloaked.image);
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  const seen = estimate.recognizers.filter((r) => r.seenByCloak).map((r) => r.id);
  assert.deepEqual(seen, ['human-mobileface']);
  const mobileface = estimate.cells.find((c) => c.recognizer === 'human-mobileface' && c.defense === 'none')!;
  assert.ok(mobileface.meanSimilarity === null || mobileface.meanSimilarity < 0.9, `optimised-against similarity ${mobileface.meanSimilarity}`);
  const heldOut = estimate.cells.filter((c) => c.recognizer !== 'human-mobileface');
  const expected = heldOut.reduce((s, c) => s + c.protectedFaces, 0) / heldOut.reduce((s, c) => s + c.faces, 0);
  assert.equal(estimate.heldOutProtection, expected);
});

test('refuses images of different sizes', async () => {
  await assert.rejects(engine.estimateProtection(image, { width: 1, height: 1, data: new Uint8Array(3) }), RangeError);
});
