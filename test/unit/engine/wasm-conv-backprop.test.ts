// The wasm input-gradient kernels built on the forward convolutions (src/engine/backends/wasm-conv-backprop.ts) must
// agree with tfjs's cpu kernels on every geometry: strides 1 and 2, odd and even sizes, SAME / VALID / explicit
// padding, filters from 1x1 to 7x7, and leave neither tensors nor wasm buffers behind.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../../src/engine/backends/backends.ts';
import { convBackpropOptions } from '../../../src/engine/backends/wasm-conv-backprop.ts';

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;
interface Case {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  stride: [number, number];
  pad: Pad;
}

const explicit = (top: number, bottom: number, left: number, right: number): Pad => [
  [0, 0],
  [top, bottom],
  [left, right],
  [0, 0],
];

function grid(depthwise: boolean): Case[] {
  const cases: Case[] = [];
  const sizes: Array<[number, number]> = [
    [7, 7],
    [8, 9],
    [13, 10],
  ];
  const filters = [1, 2, 3, 5, 7];
  const pads: Pad[] = ['same', 'valid', explicit(1, 1, 1, 1), explicit(0, 2, 1, 0)];
  const strides: Array<[number, number]> = [
    [1, 1],
    [2, 2],
    [1, 2],
  ];
  let i = 0;
  for (const [h, w] of sizes) {
    for (const k of filters) {
      for (const pad of pads) {
        for (const stride of strides) {
          const inC = [1, 3, 4][i % 3];
          const outC = [5, 2, 8][(i >> 1) % 3];
          const batch = i % 4 === 0 ? 2 : 1;
          i++;
          cases.push({
            x: [batch, h, w, inC],
            filter: depthwise ? [k, k, inC, 1] : [k, k, inC, outC],
            stride,
            pad,
          });
        }
      }
    }
  }
  return cases;
}

const name = (c: Case) => `x ${c.x.join('x')} W ${c.filter.join('x')} stride ${c.stride} pad ${JSON.stringify(c.pad)}`;

async function dyAndFilter(c: Case, kernelName: string) {
  const x = tf.zeros(c.x) as tf.Tensor4D;
  const w = tf.zeros(c.filter) as tf.Tensor4D;
  const y = kernelName === tf.Conv2DBackpropInput ? tf.conv2d(x, w, c.stride, c.pad) : tf.depthwiseConv2d(x, w, c.stride, c.pad);
  const dyShape = y.shape;
  tf.dispose([x, w, y]);
  const dy = await tf.randomNormal(dyShape, 0, 1, 'float32', 11).data();
  const filter = await tf.randomNormal(c.filter, 0, 1, 'float32', 12).data();
  return { dy: new Float32Array(dy), dyShape, filter: new Float32Array(filter) };
}

/** Largest |wasm - cpu| over the cpu result's largest magnitude. */
async function relativeDifference(c: Case, kernelName: string): Promise<number> {
  await useBackend(['cpu']);
  const { dy, dyShape, filter } = await dyAndFilter(c, kernelName);
  const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x, dilations: [1, 1] } as unknown as tf.NamedAttrMap;
  const run = async () => {
    const dyT = tf.tensor(dy, dyShape);
    const filterT = tf.tensor(filter, c.filter);
    const dx = tf.engine().runKernel(kernelName, { dy: dyT, filter: filterT }, attrs) as tf.Tensor;
    const data = await dx.data();
    tf.dispose([dyT, filterT, dx]);
    return data;
  };
  const cpu = await run();
  await useBackend(['wasm']);
  const wasm = await run();
  assert.equal(wasm.length, cpu.length);
  let diff = 0;
  let scale = 1e-6;
  for (let i = 0; i < cpu.length; i++) {
    diff = Math.max(diff, Math.abs(wasm[i] - cpu[i]));
    scale = Math.max(scale, Math.abs(cpu[i]));
  }
  return diff / scale;
}

for (const strided of ['auto', 'phases', 'dilate'] as const) {
  test(`wasm Conv2DBackpropInput via Conv2D (${strided}) matches cpu over a grid of geometries`, async () => {
    convBackpropOptions.strided = strided;
    try {
      for (const c of grid(false)) {
        const difference = await relativeDifference(c, tf.Conv2DBackpropInput);
        assert.ok(difference < 1e-5, `${name(c)}: relative difference ${difference}`);
      }
    } finally {
      convBackpropOptions.strided = 'auto';
    }
  });

  test(`wasm DepthwiseConv2dNativeBackpropInput via DepthwiseConv2dNative (${strided}) matches cpu over a grid`, async () => {
    convBackpropOptions.strided = strided;
    try {
      for (const c of grid(true)) {
        const difference = await relativeDifference(c, tf.DepthwiseConv2dNativeBackpropInput);
        assert.ok(difference < 1e-5, `${name(c)}: relative difference ${difference}`);
      }
    } finally {
      convBackpropOptions.strided = 'auto';
    }
  });
}

test('padding wider than the filter (dy rows that only ever meet padding) still matches cpu', async () => {
  const c: Case = { x: [1, 6, 7, 2], filter: [2, 2, 2, 3], stride: [2, 2], pad: explicit(3, 0, 0, 2) };
  assert.ok((await relativeDifference(c, tf.Conv2DBackpropInput)) < 1e-5);
  const d: Case = { x: [1, 6, 7, 2], filter: [2, 2, 2, 1], stride: [1, 1], pad: explicit(3, 0, 0, 2) };
  assert.ok((await relativeDifference(d, tf.DepthwiseConv2dNativeBackpropInput)) < 1e-5);
});

test('the input gradients leave no tensors behind, and their cached filters go with the weights', async () => {
  await useBackend(['wasm']);
  const tensors = tf.memory().numTensors;
  const buffers = tf.engine().backend.numDataIds();
  const x = tf.randomNormal([1, 9, 10, 3]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 3, 4]) as tf.Tensor4D;
  const dw = tf.randomNormal([3, 3, 3, 1]) as tf.Tensor4D;
  const loss = (a: tf.Tensor, stride: number, pad: Pad) =>
    tf.add(tf.sum(tf.conv2d(a as tf.Tensor4D, w, stride, pad)), tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, dw, stride, pad)));
  const gradient = (stride: number, pad: Pad) => tf.grad((a: tf.Tensor) => loss(a, stride, pad))(x);
  const geometries: Array<[number, Pad]> = [1, 2].flatMap((stride) => ['same', 'valid', explicit(1, 0, 2, 1)].map((pad) => [stride, pad] as [number, Pad]));
  for (const strided of ['phases', 'dilate'] as const) {
    convBackpropOptions.strided = strided;
    for (const [stride, pad] of geometries) gradient(stride, pad).dispose();
  }
  assert.equal(tf.memory().numTensors, tensors + 3, 'tensors leaked');
  // Once the backward filters are derived (and cached), further gradients allocate nothing that outlives them.
  const warm = tf.engine().backend.numDataIds();
  for (const strided of ['phases', 'dilate'] as const) {
    convBackpropOptions.strided = strided;
    for (const [stride, pad] of geometries) gradient(stride, pad).dispose();
  }
  convBackpropOptions.strided = 'auto';
  assert.equal(tf.engine().backend.numDataIds(), warm, 'wasm buffers leaked');
  tf.dispose([x, w, dw]);
  assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
  assert.equal(tf.engine().backend.numDataIds(), buffers, 'derived filters outlived their weights');
});

test('a cached backward filter is not reused for another shape of the same buffer', async () => {
  // A reshape shares its source's dataId: [1,1,4,4] and [2,2,1,4] views of one buffer need different backward filters.
  const weights = await tf.randomNormal([16], 0, 1, 'float32', 3).data();
  const gradient = await tf.randomNormal([1, 6, 6, 4], 0, 1, 'float32', 4).data();
  const attrs = (inputShape: number[]) => ({ strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape }) as unknown as tf.NamedAttrMap;
  const both = async () => {
    const flat = tf.tensor(weights);
    const dy = tf.tensor(gradient, [1, 6, 6, 4]);
    const results = tf.tidy(() => [
      tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: tf.reshape(flat, [1, 1, 4, 4]) }, attrs([1, 6, 6, 4])) as tf.Tensor,
      tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: tf.reshape(flat, [2, 2, 1, 4]) }, attrs([1, 6, 6, 1])) as tf.Tensor,
    ]);
    const data = await Promise.all(results.map((r) => r.data()));
    tf.dispose([flat, dy, ...results]);
    return data;
  };
  await useBackend(['cpu']);
  const cpu = await both();
  await useBackend(['wasm']);
  const wasm = await both();
  for (const [k, expected] of cpu.entries()) {
    assert.equal(wasm[k].length, expected.length);
    for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(wasm[k][i] - expected[i]) < 1e-4, `view ${k} element ${i}`);
  }
});
