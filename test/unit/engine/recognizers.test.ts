// The recognizer zoo: our face-api forward pass equals face-api's own, unfused graphs equal the shipped fused ones,
// embeddings are unit length, and repeated use leaks no tensors.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import { useBackend } from '../../../src/engine/backends/backends.ts';
import { loadFaceApiWeights, loadUnfusedGraphModel } from '../../../src/engine/models/load.ts';
import { modelEntry, modelFile } from '../../../src/engine/models/manifest.ts';
import { readModelFileNode } from '../../../src/engine/models/read-node.ts';
import { faceApiResnetForward } from '../../../src/engine/recognizers/faceapi-resnet.ts';
import { loadRecognizers, recognizerIds } from '../../../src/engine/recognizers/zoo.ts';

before(async () => {
  await useBackend(['wasm']);
});

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

test("faceapi-resnet's differentiable forward pass equals face-api's computeFaceDescriptor", async () => {
  const entry = modelEntry('faceapi-resnet');
  const weights = await loadFaceApiWeights(entry, readModelFileNode);
  const net = new faceapi.FaceRecognitionNet();
  net.loadFromWeightMap((await loadFaceApiWeights(entry, readModelFileNode)) as never);
  const crop = tf.randomUniform([150, 150, 3], 0, 255, 'float32', 3) as tf.Tensor3D;
  const theirs = (await net.computeFaceDescriptor(crop as never)) as Float32Array;
  const ours = tf.tidy(() => faceApiResnetForward(tf.expandDims(crop, 0) as tf.Tensor4D, weights));
  assert.ok(maxAbsDifference(await ours.data(), theirs) < 1e-4);
  tf.dispose([ours, crop, ...Object.values(weights)]);
  net.dispose();
});

test('unfused graphs compute the same outputs as the fused graphs shipped in the package', async () => {
  for (const id of ['human-mobilefacenet', 'human-faceres']) {
    const entry = modelEntry(id);
    const unfused = await loadUnfusedGraphModel(entry, readModelFileNode);
    const json = JSON.parse(new TextDecoder().decode(await readModelFileNode(entry, modelFile(entry, '.json'))));
    const weightData = await readModelFileNode(entry, modelFile(entry, '.bin'));
    const fused = await tf.loadGraphModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData: weightData.slice().buffer,
      }),
    );
    const fusedOps = (json.modelTopology.node as { op: string }[]).filter((n) => /Fused/.test(n.op)).length;
    assert.ok(fusedOps > 0, `${id} has fused ops to test`);
    const size = entry.input.size;
    const input = tf.randomUniform([2, size, size, 3], 0, 255, 'float32', 5);
    // faceres: the fused MatMul sits in its 'feats' head; mobilefacenet: fused convs everywhere.
    const output = id === 'human-faceres' ? 'feats/Relu' : entry.embedding!.output;
    const a = fused.execute(input, output) as tf.Tensor;
    const b = unfused.execute(input, output) as tf.Tensor;
    const scale = Math.max(...Array.from(await a.data(), Math.abs));
    assert.ok(maxAbsDifference(await a.data(), await b.data()) <= 1e-4 * Math.max(1, scale), id);
    tf.dispose([a, b, input]);
    fused.dispose();
    unfused.dispose();
  }
});

test('a fused graph differentiates on wasm once unfused (no Conv2DBackpropFilter asked for)', async () => {
  const entry = modelEntry('human-mobilefacenet');
  const model = await loadUnfusedGraphModel(entry, readModelFileNode);
  const x = tf.randomUniform([1, 112, 112, 3], 0, 1, 'float32', 9);
  const gradient = tf.grad((input: tf.Tensor) => tf.sum(model.execute(input, entry.embedding!.output) as tf.Tensor))(x);
  const values = await gradient.data();
  assert.ok(values.some((v) => v !== 0) && values.every(Number.isFinite));
  tf.dispose([x, gradient]);
  model.dispose();
});

test('every recognizer returns unit-length embeddings of its manifest dimension, batched, with no leak', async () => {
  const recognizers = await loadRecognizers(recognizerIds, readModelFileNode);
  const before = tf.memory().numTensors;
  for (const recognizer of recognizers) {
    const faces = tf.randomUniform([3, recognizer.inputSize, recognizer.inputSize, 3], 0, 255, 'float32', 1) as tf.Tensor4D;
    const embeddings = recognizer.embed(faces);
    assert.deepEqual(embeddings.shape, [3, recognizer.entry.embedding!.dim]);
    const normTensor = tf.norm(embeddings, 'euclidean', 1);
    const norms = await normTensor.data();
    normTensor.dispose();
    for (const norm of norms) assert.ok(Math.abs(norm - 1) < 1e-4, `${recognizer.id} norm ${norm}`);
    // Batching must not mix faces: face 0 alone gives the same embedding as in the batch.
    const alone = tf.tidy(() => recognizer.embed(tf.slice(faces, [0, 0, 0, 0], [1, -1, -1, -1])));
    const first = tf.tidy(() => tf.slice(embeddings, [0, 0], [1, -1]));
    assert.ok(maxAbsDifference(await alone.data(), await first.data()) < 1e-4, recognizer.id);
    tf.dispose([faces, embeddings, alone, first]);
  }
  assert.equal(tf.memory().numTensors, before);
  for (const recognizer of recognizers) recognizer.dispose();
});

test("transfer layers resolve in their graphs, and embedWithFeatures' embedding equals embed's", async () => {
  for (const id of recognizerIds) {
    const entry = modelEntry(id);
    const [recognizer] = await loadRecognizers([id], readModelFileNode);
    try {
      assert.equal(Boolean(recognizer.embedWithFeatures), Boolean(entry.transferLayer), id);
      if (!recognizer.embedWithFeatures) continue;
      const crop = tf.randomUniform([1, recognizer.inputSize, recognizer.inputSize, 3], 0, 255, 'float32', 5) as tf.Tensor4D;
      const [both, alone] = tf.tidy(() => {
        const [embedding, middle] = recognizer.embedWithFeatures!(crop);
        assert.ok(middle.shape[1] > embedding.shape[1], `${id}: middle layer has ${middle.shape[1]} values`);
        return [embedding, recognizer.embed(crop)];
      });
      assert.ok(maxAbsDifference(await both.data(), await alone.data()) < 1e-5, id);
      tf.dispose([both, alone, crop]);
    } finally {
      recognizer.dispose();
    }
  }
});
