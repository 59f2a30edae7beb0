// The ONNX reader (src/engine/models/onnx.ts): it reads the recognizer we use (faceplugin's MobileFaceNet), and on a
// small model written here it computes what the ONNX operators mean in NCHW (checked against plain loops), although
// it runs in NHWC: asymmetric padding, depthwise groups, per-channel PReLU and the element order a Flatten feeds into
// a fully connected layer. Unknown operators are refused by name, and nothing leaks.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../../src/engine/backends/backends.ts';
import { modelEntry, modelFile } from '../../../src/engine/models/manifest.ts';
import { loadOnnxGraph, parseOnnx } from '../../../src/engine/models/onnx.ts';
import { readModelFileNode } from '../../../src/engine/models/read-node.ts';

before(async () => {
  await useBackend(['wasm']);
});

/** Protobuf writer, just enough for ModelProto: varint and length-delimited fields. */
const varint = (value: number): number[] => {
  const bytes: number[] = [];
  let v = value < 0 ? 2n ** 64n + BigInt(value) : BigInt(value);
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    bytes.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return bytes;
};
const int = (field: number, value: number) => [...varint(field * 8), ...varint(value)];
const bytesField = (field: number, bytes: number[] | Uint8Array) => [...varint(field * 8 + 2), ...varint(bytes.length), ...bytes];
const text = (field: number, value: string) => bytesField(field, new TextEncoder().encode(value));
const floatTensor = (name: string, dims: number[], values: Float32Array) => [
  ...dims.flatMap((d) => int(1, d)),
  ...int(2, 1),
  ...text(8, name),
  ...bytesField(9, new Uint8Array(values.buffer)),
];
const int64Tensor = (name: string, values: number[]) => [...int(1, values.length), ...int(2, 7), ...text(8, name), ...bytesField(7, values.flatMap((v) => varint(v)))];
const intsAttribute = (name: string, values: number[]) => [...text(1, name), ...bytesField(8, values.flatMap((v) => varint(v))), ...int(20, 7)];
const intAttribute = (name: string, value: number) => [...text(1, name), ...int(3, value), ...int(20, 2)];
const node = (op: string, inputs: string[], outputs: string[], attributes: number[][] = []) => [
  ...inputs.flatMap((name) => text(1, name)),
  ...outputs.flatMap((name) => text(2, name)),
  ...text(3, `${op}_${outputs[0]}`),
  ...text(4, op),
  ...attributes.flatMap((a) => bytesField(5, a)),
];
const valueInfo = (name: string) => text(1, name);

function seeded(count: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: count }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 30 - 1;
  });
}

/**
 * x [1, 3, 6, 6] -> Conv 3->4 (3x3, stride 2, pads top 1 left 0 bottom 0 right 1) + bias -> PRelu (slope per channel)
 * -> depthwise Conv (group 4, 3x3, pads 1) -> Add (residual) -> Flatten -> Gemm (transB) -> [1, 2].
 */
const w1 = seeded(4 * 3 * 3 * 3, 1);
const b1 = seeded(4, 2);
const slope = seeded(4, 3);
const w2 = seeded(4 * 1 * 3 * 3, 4);
const fc = seeded(2 * 4 * 3 * 3, 5);
const fcBias = seeded(2, 6);

function smallModel(ops: { extraOp?: string } = {}): Uint8Array {
  const graph = [
    ...bytesField(1, node('Conv', ['x', 'w1', 'b1'], ['c1'], [intsAttribute('kernel_shape', [3, 3]), intsAttribute('strides', [2, 2]), intsAttribute('pads', [1, 0, 0, 1])])),
    ...bytesField(1, node('PRelu', ['c1', 'slope'], ['p1'])),
    ...bytesField(1, node('Conv', ['p1', 'w2'], ['c2'], [intAttribute('group', 4), intsAttribute('kernel_shape', [3, 3]), intsAttribute('pads', [1, 1, 1, 1])])),
    ...bytesField(1, node('Add', ['p1', 'c2'], ['sum'])),
    ...bytesField(1, node('Flatten', ['sum'], ['flat'])),
    ...bytesField(1, node('Gemm', ['flat', 'fc', 'fcBias'], ['y'], [intAttribute('transB', 1)])),
    ...(ops.extraOp ? bytesField(1, node(ops.extraOp, ['y'], ['z'])) : []),
    ...bytesField(5, floatTensor('w1', [4, 3, 3, 3], w1)),
    ...bytesField(5, floatTensor('b1', [4], b1)),
    ...bytesField(5, floatTensor('slope', [4, 1, 1], slope)),
    ...bytesField(5, floatTensor('w2', [4, 1, 3, 3], w2)),
    ...bytesField(5, floatTensor('fc', [2, 36], fc)),
    ...bytesField(5, floatTensor('fcBias', [2], fcBias)),
    ...bytesField(5, int64Tensor('unused_shape', [-1, 36])),
    ...bytesField(11, valueInfo('x')),
    ...bytesField(11, valueInfo('w1')),
    ...bytesField(12, valueInfo(ops.extraOp ? 'z' : 'y')),
  ];
  return Uint8Array.from([...int(1, 7), ...bytesField(7, graph)]);
}

/** The same model in plain NCHW loops: what ONNX defines, independent of the reader's NHWC layout. */
function reference(x: Float32Array): number[] {
  const at = (c: number, y: number, x_: number, h: number, w: number, data: Float32Array) =>
    y < 0 || y >= h || x_ < 0 || x_ >= w ? 0 : data[(c * h + y) * w + x_];
  // Conv 1: out = floor((6 + 1 + 0 - 3) / 2) + 1 = 3 on both axes (top/left pads 1 and 0).
  const p1 = new Float32Array(4 * 3 * 3);
  for (let o = 0; o < 4; o++)
    for (let oy = 0; oy < 3; oy++)
      for (let ox = 0; ox < 3; ox++) {
        let sum = b1[o];
        for (let c = 0; c < 3; c++)
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) sum += w1[((o * 3 + c) * 3 + ky) * 3 + kx] * at(c, oy * 2 + ky - 1, ox * 2 + kx - 0, 6, 6, x);
        p1[(o * 3 + oy) * 3 + ox] = sum >= 0 ? sum : slope[o] * sum;
      }
  const sum = new Float32Array(36);
  for (let c = 0; c < 4; c++)
    for (let oy = 0; oy < 3; oy++)
      for (let ox = 0; ox < 3; ox++) {
        let s = 0;
        for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) s += w2[(c * 3 + ky) * 3 + kx] * at(c, oy + ky - 1, ox + kx - 1, 3, 3, p1);
        sum[(c * 3 + oy) * 3 + ox] = p1[(c * 3 + oy) * 3 + ox] + s;
      }
  return [0, 1].map((j) => fcBias[j] + sum.reduce((acc, v, i) => acc + v * fc[j * 36 + i], 0));
}

test('a small model computes what its ONNX operators define in NCHW, run in NHWC; no tensor leaks', async () => {
  const graph = loadOnnxGraph(smallModel());
  const before = tf.memory().numTensors;
  const nchw = seeded(3 * 6 * 6, 9);
  const input = tf.tidy(() => tf.transpose(tf.tensor4d(nchw, [1, 3, 6, 6]), [0, 2, 3, 1])) as tf.Tensor4D;
  const [y] = tf.tidy(() => graph.execute(input));
  assert.deepEqual(y.shape, [1, 2]);
  const got = Array.from(await y.data());
  const want = reference(nchw);
  for (let j = 0; j < 2; j++) assert.ok(Math.abs(got[j] - want[j]) < 1e-4 * Math.max(1, Math.abs(want[j])), `output ${j}: ${got[j]} vs ${want[j]}`);
  tf.dispose([input, y]);
  assert.equal(tf.memory().numTensors, before);
  graph.dispose();
});

test('int64 constants are read exactly, negatives included (ten-byte varints)', () => {
  const model = parseOnnx(smallModel());
  assert.deepEqual(Array.from(model.constants.get('unused_shape')!.data), [-1, 36]);
  assert.deepEqual(model.constants.get('w1')!.dims, [4, 3, 3, 3]);
  // An initializer listed among the graph's inputs is not an input.
  assert.deepEqual(model.inputs, ['x']);
});

test('an operator the reader does not know is refused by name', () => {
  assert.throws(() => parseOnnx(smallModel({ extraOp: 'Softmax' })), /ONNX operator Softmax \(Softmax_z\) is not supported/);
});

test("reads faceplugin's MobileFaceNet: one 112 px input, a 512-D output, any batch size, distinct embeddings", async () => {
  const entry = modelEntry('faceplugin-mobilefacenet');
  const bytes = await readModelFileNode(entry, modelFile(entry, '.onnx'));
  const model = parseOnnx(bytes);
  assert.deepEqual(model.inputs, ['input']);
  assert.deepEqual(model.outputs, ['output']);
  const counts: Record<string, number> = {};
  for (const { op } of model.nodes) counts[op] = (counts[op] ?? 0) + 1;
  // Batch norms folded into the convolutions at export: 50 convolutions (17 depthwise), 33 PReLUs, 12 residual adds.
  assert.deepEqual(counts, { Conv: 50, PRelu: 33, Add: 12, Reshape: 1 });
  const graph = loadOnnxGraph(bytes);
  const before = tf.memory().numTensors;
  // The file was exported for a batch of 1; run 3 faces.
  const faces = tf.randomUniform([3, 112, 112, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
  const [embeddings] = tf.tidy(() => graph.execute(faces));
  assert.deepEqual(embeddings.shape, [3, 512]);
  const rows = (await embeddings.array()) as number[][];
  assert.notDeepEqual(rows[0], rows[1]);
  tf.dispose([faces, embeddings]);
  assert.equal(tf.memory().numTensors, before);
  graph.dispose();
});
