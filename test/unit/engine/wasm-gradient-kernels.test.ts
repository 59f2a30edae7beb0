// The backward kernels we register for wasm must agree with tfjs's cpu kernels on every conv configuration.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../../src/engine/backends/backends.ts';

type Case = { name: string; x: number[]; w: number[]; stride: number; pad: 'same' | 'valid' };
const depthwiseCases: Case[] = [
  { name: '3x3 s1 same', x: [2, 9, 9, 4], w: [3, 3, 4, 1], stride: 1, pad: 'same' },
  { name: '3x3 s2 same', x: [1, 10, 9, 3], w: [3, 3, 3, 1], stride: 2, pad: 'same' },
  { name: '5x5 s2 valid, multiplier 2', x: [1, 11, 12, 3], w: [5, 5, 3, 2], stride: 2, pad: 'valid' },
];
const convCases: Case[] = [
  { name: '3x3 s1 same', x: [2, 8, 8, 3], w: [3, 3, 3, 5], stride: 1, pad: 'same' },
  { name: '3x3 s2 valid', x: [1, 9, 10, 4], w: [3, 3, 4, 6], stride: 2, pad: 'valid' },
];

function maxRelativeDifference(a: Float32Array | Int32Array | Uint8Array, b: Float32Array | Int32Array | Uint8Array) {
  let diff = 0;
  let scale = 1e-6;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

async function onBothBackends(compute: () => tf.Tensor): Promise<number> {
  await useBackend(['wasm']);
  const wasm = compute();
  const wasmData = await wasm.data();
  wasm.dispose();
  await useBackend(['cpu']);
  const cpu = compute();
  const cpuData = await cpu.data();
  cpu.dispose();
  assert.equal(wasmData.length, cpuData.length);
  return maxRelativeDifference(wasmData, cpuData);
}

function seeded(shape: number[], seed: number) {
  return () => tf.randomNormal(shape, 0, 1, 'float32', seed);
}

for (const c of depthwiseCases) {
  test(`wasm DepthwiseConv2dNativeBackpropInput/Filter match cpu: ${c.name}`, async () => {
    const x = seeded(c.x, 1);
    const w = seeded(c.w, 2);
    const loss = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.square(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad)));
    assert.ok((await onBothBackends(() => tf.tidy(() => tf.grads(loss)([x(), w()])[0]))) < 1e-4);
    assert.ok((await onBothBackends(() => tf.tidy(() => tf.grads(loss)([x(), w()])[1]))) < 1e-4);
  });
}

for (const c of convCases) {
  test(`wasm Conv2DBackpropFilter matches cpu: ${c.name}`, async () => {
    const x = seeded(c.x, 3);
    const w = seeded(c.w, 4);
    const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad)));
    assert.ok((await onBothBackends(() => tf.tidy(() => tf.grads(loss)([x(), w()])[1]))) < 1e-4);
  });
}

test('wasm UnsortedSegmentSum (the gradient of gather) matches cpu, repeated indices included', async () => {
  const x = seeded([6, 3], 5);
  const indices = () => tf.tensor1d([0, 5, 5, 2, 0, 0, 1], 'int32');
  const loss = (a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, indices()), tf.range(0, 21).reshape([7, 3])));
  assert.ok((await onBothBackends(() => tf.tidy(() => tf.grad(loss)(x())))) < 1e-6);
});

test('the kernels leave no tensors behind', async () => {
  await useBackend(['wasm']);
  const x = tf.randomNormal([1, 8, 8, 3]);
  const w = tf.randomNormal([3, 3, 3, 1]);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    const gradient = tf.grad((a: tf.Tensor) => tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, w as tf.Tensor4D, 2, 'same')))(x);
    gradient.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, w]);
});
