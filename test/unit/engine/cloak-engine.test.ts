// createCloakEngine end to end on a group photo: every face cloaked, size kept, progress reported, no leak; targeted
// mode pulls faces toward a decoy and refuses to run without a usable one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { useBackend } from '../../../src/engine/backends/backends.ts';
import { strengthSettings } from '../../../src/engine/cloak/cloak.ts';
import { type CloakEngine, createCloakEngine } from '../../../src/engine/cloak/engine.ts';
import { decodeImageNode } from '../../../src/engine/image/decode-node.ts';
import { readModelFileNode } from '../../../src/engine/models/read-node.ts';
import { demoPhoto } from '../../support/photos.ts';

let engine: CloakEngine;

before(async () => {
  await useBackend(['wasm']);
  // The fast recognizer only: this checks the plumbing; bench/protection measures real ensembles.
  engine = await createCloakEngine(readModelFileNode, { ensemble: ['human-mobileface'] });
});
after(() => engine.dispose());

test('cloaks every face of a group photo, keeps the size, reports progress, leaks nothing', async () => {
  const { image } = await demoPhoto('sample1.jpg');
  const before = tf.memory().numTensors;
  const progress: string[] = [];
  const outcome = await engine.cloak(image, {
    strength: 'low',
    seed: 1,
    onProgress: ({ face, faces, step, steps }) => progress.push(`${face}/${faces}:${step}/${steps}`),
  });
  assert.equal(tf.memory().numTensors, before);
  assert.ok(outcome.faces.length >= 3, `${outcome.faces.length} faces`);
  assert.equal(outcome.image.width, image.width);
  assert.equal(outcome.image.height, image.height);
  assert.notDeepEqual(outcome.image.data, image.data);
  assert.equal(progress.length, outcome.faces.reduce((sum, face) => sum + face.steps, 0));
  assert.equal(progress.at(-1), `${outcome.faces.length - 1}/${outcome.faces.length}:${strengthSettings.low.steps}/${strengthSettings.low.steps}`);
  for (const face of outcome.faces) assert.ok(face.ensembleSimilarity < 0.9, `similarity ${face.ensembleSimilarity}`);
  assert.equal(outcome.timings.cloakMs.length, outcome.faces.length);
});

test('a photo without a face comes back unchanged after detection only', async () => {
  const bytes = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#3a7' } }).png().toBuffer();
  const image = await decodeImageNode(new Uint8Array(bytes));
  const outcome = await engine.cloak(image);
  assert.deepEqual(outcome.faces, []);
  assert.deepEqual(outcome.image.data, image.data);
  assert.deepEqual(outcome.timings.cloakMs, []);
});

test('targeted mode pulls the face toward the decoy and away from itself, leaking nothing', async () => {
  const decoy = await engine.makeDecoy((await demoPhoto('sample3.jpg')).image);
  assert.equal(decoy.embeddings['human-mobileface']?.length, 256);
  const { image } = await demoPhoto('sample2.jpg');
  const before = tf.memory().numTensors;
  // A short cloak: the pull shows within a few steps, and bench/protection measures the real budget.
  const budget = { steps: 6 };
  const targeted = await engine.cloak(image, { strength: 'low', budget, mode: 'targeted', decoy, seed: 1 });
  assert.equal(tf.memory().numTensors, before);
  assert.ok(targeted.faces.length >= 1);
  for (const face of targeted.faces) {
    assert.ok(face.decoy, 'targeted faces report their similarity to the decoy');
    assert.ok(face.decoy.similarity > face.decoy.cleanSimilarity + 0.15, `to the decoy ${face.decoy.cleanSimilarity} -> ${face.decoy.similarity}`);
    assert.ok(face.ensembleSimilarity < 0.9, `similarity ${face.ensembleSimilarity}`);
  }
  const untargeted = await engine.cloak(image, { strength: 'low', budget, decoy, seed: 1 });
  assert.equal(untargeted.faces[0].decoy, undefined, 'a decoy is ignored unless the mode is targeted');
  assert.notDeepEqual(untargeted.image.data, targeted.image.data);
});

test('targeted mode refuses a missing decoy, a decoy from another ensemble and a decoy photo without a face', async () => {
  const { image } = await demoPhoto('sample2.jpg');
  await assert.rejects(engine.cloak(image, { mode: 'targeted' }), /needs a decoy/);
  await assert.rejects(engine.cloak(image, { mode: 'targeted', decoy: { embeddings: { 'human-faceres': [1] } } }), /made without human-mobileface/);
  const bytes = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#3a7' } }).png().toBuffer();
  await assert.rejects(engine.makeDecoy(await decodeImageNode(new Uint8Array(bytes))), /decoy photo has no face/);
});
