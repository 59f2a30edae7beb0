// The TFLite reader (src/engine/models/tflite.ts) on the one TFLite recognizer we ship: it reads the operators TOCO
// wrote, joins the lowered PReLUs without changing what the model computes, keeps the input's batch size, leaks no
// tensors, and refuses what it cannot run.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../../src/engine/backends/backends.ts';
import { modelEntry, modelFile } from '../../../src/engine/models/manifest.ts';
import { readModelFileNode } from '../../../src/engine/models/read-node.ts';
import { fusePrelu, loadTfliteGraph, parseTflite } from '../../../src/engine/models/tflite.ts';

let bytes: Uint8Array;

before(async () => {
  await useBackend(['wasm']);
  const entry = modelEntry('expo-mobilefacenet');
  bytes = await readModelFileNode(entry, modelFile(entry, '.tflite'));
});

function countOps(ops: readonly { op: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { op } of ops) counts[op] = (counts[op] ?? 0) + 1;
  return counts;
}

test('reads MobileFaceNet: one 112 px RGB input, the 192-D embeddings output, float32 weights', () => {
  const model = parseTflite(bytes);
  assert.deepEqual(model.inputs.map((i) => model.tensors[i].shape.slice(1)), [[112, 112, 3]]);
  assert.deepEqual(model.outputs.map((i) => model.tensors[i].name), ['embeddings']);
  // 33 PReLUs lowered by TOCO to relu + c * (x - |x|), 12 residual adds, 52 convolutions.
  assert.deepEqual(countOps(model.operators), { CONV_2D: 35, DEPTHWISE_CONV_2D: 17, RELU: 33, ABS: 33, SUB: 33, MUL: 33, ADD: 45, RESHAPE: 1 });
  const firstConv = model.operators[0];
  assert.equal(firstConv.op, 'CONV_2D');
  assert.deepEqual(firstConv.strides, [2, 2]);
  assert.deepEqual(model.tensors[firstConv.inputs[1]].shape, [64, 3, 3, 3]);
  assert.ok(model.tensors[firstConv.inputs[1]].data instanceof Float32Array);
});

test('the lowered PReLUs are joined into one operator each', () => {
  const fused = fusePrelu(parseTflite(bytes));
  assert.deepEqual(countOps(fused.operators), { CONV_2D: 35, DEPTHWISE_CONV_2D: 17, PRELU: 33, ADD: 12, RESHAPE: 1 });
});

test('joining the PReLUs does not change the embedding; any batch size works; no tensor leaks', async () => {
  const joined = loadTfliteGraph(bytes);
  const verbatim = loadTfliteGraph(bytes, { fusePrelu: false });
  const before = tf.memory().numTensors;
  // The file was converted for a batch of 2; run 3 faces.
  const faces = tf.randomUniform([3, 112, 112, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
  const [a, b] = tf.tidy(() => [joined.execute(faces)[0], verbatim.execute(faces)[0]]);
  assert.deepEqual(a.shape, [3, 192]);
  const va = await a.data();
  const vb = await b.data();
  const scale = Math.max(...Array.from(vb, Math.abs));
  let worst = 0;
  for (let i = 0; i < va.length; i++) worst = Math.max(worst, Math.abs(va[i] - vb[i]));
  assert.ok(worst <= 1e-4 * scale, `largest difference ${worst} of ${scale}`);
  // Different faces give different embeddings (a broken conversion gives one constant vector, as human-mobilefacenet).
  const rows = (await a.array()) as number[][];
  assert.notDeepEqual(rows[0], rows[1]);
  tf.dispose([faces, a, b]);
  assert.equal(tf.memory().numTensors, before);
  joined.dispose();
  verbatim.dispose();
});

test('a middle tensor can be read by name; an unknown name is refused', () => {
  const graph = loadTfliteGraph(bytes);
  const faces = tf.zeros([1, 112, 112, 3]) as tf.Tensor4D;
  const shapes = tf.tidy(() => graph.execute(faces, ['embeddings', 'MobileFaceNet/MobileFaceNet/Conv2d_0/add']).map((t) => t.shape));
  assert.deepEqual(shapes, [[1, 192], [1, 56, 56, 64]]);
  assert.throws(() => tf.tidy(() => graph.execute(faces, ['no/such/tensor'])), /no tensor "no\/such\/tensor"/);
  faces.dispose();
  graph.dispose();
});

test('a model with an operator we cannot run is refused by its code', () => {
  // Turn an operator code into CAST (53), which the reader does not know: it must refuse, not guess. Flatbuffers omit
  // fields at their default, so ADD (0) has no code stored to patch: take the first code that has one.
  const model = parseTflite(bytes);
  assert.ok(model.operators.length > 0);
  const patched = bytes.slice();
  const view = new DataView(patched.buffer);
  const fieldAt = (table: number, index: number) => {
    const vtable = table - view.getInt32(table, true);
    const slot = 4 + 2 * index;
    const offset = slot < view.getUint16(vtable, true) ? view.getUint16(vtable + slot, true) : 0;
    return offset && table + offset;
  };
  const deref = (at: number) => at + view.getUint32(at, true);
  const codes = deref(fieldAt(deref(0), 1)); // Model field 1: operator_codes
  const count = view.getUint32(codes, true);
  let patchedOne = false;
  for (let i = 0; i < count && !patchedOne; i++) {
    const code = deref(codes + 4 + 4 * i);
    // OperatorCode field 0: deprecated_builtin_code (int8, what TOCO wrote); field 3: builtin_code (int32, newer).
    if (fieldAt(code, 0)) view.setInt8(fieldAt(code, 0), 53);
    if (fieldAt(code, 3)) view.setInt32(fieldAt(code, 3), 53, true);
    patchedOne = Boolean(fieldAt(code, 0) || fieldAt(code, 3));
  }
  assert.ok(patchedOne);
  assert.throws(() => parseTflite(patched), /builtin operator 53 is not supported/);
});
