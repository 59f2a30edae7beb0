// fuseActivations (models/graph-unfuse.ts): piecewise Relu6 and PReLU become single ops only where the constants and
// the graph shape say so, and the human recognizers compute the same embeddings and input gradients as before.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { type BackendName, useBackend } from '../../../src/engine/backends/backends.ts';
import { createFaceDetector } from '../../../src/engine/detect/detector.ts';
import { type GraphConstant, type GraphNode, fuseActivations } from '../../../src/engine/models/graph-unfuse.ts';
import { loadUnfusedGraphModel } from '../../../src/engine/models/load.ts';
import { type ModelEntry, modelEntry } from '../../../src/engine/models/manifest.ts';
import { readModelFileNode } from '../../../src/engine/models/read-node.ts';
import { demoPhoto } from '../../support/photos.ts';

const T = { T: { type: 'DT_FLOAT' } };
const node = (name: string, op: string, input: string[] = []): GraphNode => ({ name, op, input, attr: T });
const scalar = (value: number): GraphConstant => ({ shape: [], value });

/** Keras ReLU(max_value=6) as the converter wrote it in faceres: Relu -> Minimum(·, Cast) -> Maximum(·, Const_1). */
function relu6Graph(six = 6, zero = 0): { nodes: GraphNode[]; constants: Map<string, GraphConstant> } {
  return {
    nodes: [
      node('x', 'Placeholder'),
      node('act/Cast', 'Const'),
      node('act/Const_1', 'Const'),
      node('act/Relu', 'Relu', ['x']),
      node('act/clip_by_value/Minimum', 'Minimum', ['act/Relu', 'act/Cast']),
      node('act/clip_by_value', 'Maximum', ['act/clip_by_value/Minimum', 'act/Const_1']),
      node('next', 'Conv2D', ['act/clip_by_value', 'W']),
    ],
    constants: new Map([
      ['act/Cast', scalar(six)],
      ['act/Const_1', scalar(zero)],
    ]),
  };
}

/** MXNet PReLU as the converter wrote it in mobileface: Maximum(0, x) + gamma * Minimum(0, x). */
function preluGraph(gammaShape = [8], zero = 0): { nodes: GraphNode[]; constants: Map<string, GraphConstant> } {
  return {
    nodes: [
      node('conv', 'Conv2D', ['x', 'W']),
      node('Maximum/x', 'Const'),
      node('Minimum/x', 'Const'),
      node('gamma', 'Const'),
      node('Maximum', 'Maximum', ['Maximum/x', 'conv']),
      node('Minimum', 'Minimum', ['Minimum/x', 'conv']),
      node('mul_1', 'Mul', ['gamma', 'Minimum']),
      node('add', 'AddV2', ['Maximum', 'mul_1']),
      node('next', 'Conv2D', ['add', 'W2']),
    ],
    constants: new Map([
      ['Maximum/x', scalar(0)],
      ['Minimum/x', scalar(zero)],
      ['gamma', { shape: gammaShape }],
    ]),
  };
}

const ops = (nodes: GraphNode[]) => nodes.map((n) => n.op);

test('Relu -> Minimum(6) -> Maximum(0) becomes one Relu6 under the Maximum name', () => {
  const { nodes, constants } = relu6Graph();
  const fused = fuseActivations(nodes, constants);
  const relu6 = fused.find((n) => n.name === 'act/clip_by_value');
  assert.deepEqual(relu6, { name: 'act/clip_by_value', op: 'Relu6', input: ['x'], device: undefined, attr: T });
  assert.ok(!ops(fused).includes('Minimum') && !ops(fused).includes('Maximum') && !ops(fused).includes('Relu'));
  assert.deepEqual(fused.find((n) => n.name === 'next')?.input, ['act/clip_by_value', 'W']);
  // Operand order does not matter.
  const swapped = nodes.map((n) =>
    n.op === 'Maximum' || n.op === 'Minimum' ? { ...n, input: [...n.input!].reverse() } : n,
  );
  assert.equal(fuseActivations(swapped, constants).find((n) => n.name === 'act/clip_by_value')?.op, 'Relu6');
});

test('the Relu6 chain is left alone unless the constants are exactly 6 and 0 and the inner nodes are private', () => {
  for (const [six, zero] of [
    [5.9, 0],
    [6, 0.1],
    [6, -1],
  ]) {
    const { nodes, constants } = relu6Graph(six, zero);
    assert.deepEqual(fuseActivations(nodes, constants), nodes, `clip to [${zero}, ${six}]`);
  }
  const { nodes, constants } = relu6Graph();
  // A constant whose value is unknown (not a scalar weight) is not trusted.
  assert.deepEqual(fuseActivations(nodes, new Map([['act/Const_1', scalar(0)]])), nodes);
  // The Relu or the Minimum read elsewhere too: removing it would break that reader.
  for (const shared of ['act/Relu', 'act/clip_by_value/Minimum']) {
    const more = [...nodes, node('other', 'Identity', [shared])];
    assert.deepEqual(fuseActivations(more, constants), more, shared);
  }
  // No Relu underneath: a bare clip is not what we match.
  const bare = nodes.map((n) => (n.name === 'act/Relu' ? { ...n, op: 'Elu' } : n));
  assert.deepEqual(fuseActivations(bare, constants), bare);
});

test('Maximum(0, x) + gamma * Minimum(0, x) becomes one Prelu(x, gamma) under the Add name', () => {
  const { nodes, constants } = preluGraph();
  const fused = fuseActivations(nodes, constants);
  assert.deepEqual(
    fused.find((n) => n.name === 'add'),
    { name: 'add', op: 'Prelu', input: ['conv', 'gamma'], device: undefined, attr: T },
  );
  assert.deepEqual(ops(fused), ['Conv2D', 'Const', 'Const', 'Const', 'Prelu', 'Conv2D']);
  for (const shape of [[], [1, 1, 8]]) {
    const graph = preluGraph(shape);
    assert.equal(fuseActivations(graph.nodes, graph.constants).find((n) => n.name === 'add')?.op, 'Prelu', `${shape}`);
  }
});

test('the PReLU pattern is left alone when a zero is not 0, gamma varies off the channel axis, or x differs', () => {
  const nonZero = preluGraph([8], 0.5);
  assert.deepEqual(fuseActivations(nonZero.nodes, nonZero.constants), nonZero.nodes);
  // wasm's Prelu broadcasts alpha along the last axis only.
  const spatial = preluGraph([4, 1, 8]);
  assert.deepEqual(fuseActivations(spatial.nodes, spatial.constants), spatial.nodes);
  const { nodes, constants } = preluGraph();
  const otherX = nodes.map((n) => (n.name === 'Minimum' ? { ...n, input: ['Minimum/x', 'x'] } : n));
  assert.deepEqual(fuseActivations(otherX, constants), otherX);
  const shared = [...nodes, node('other', 'Identity', ['mul_1'])];
  assert.deepEqual(fuseActivations(shared, constants), shared);
});

// The real graphs: what the rewrite finds in them, and that nothing the engine sees changes.

const human = [
  { id: 'human-faceres', relu6: 27, prelu: 0 },
  { id: 'human-faceres-deep', relu6: 27, prelu: 0 },
  { id: 'human-mobileface', relu6: 0, prelu: 13 },
] as const;

before(async () => {
  await useBackend(['wasm']);
});

function graphOps(model: tf.GraphModel): Map<string, number> {
  // GraphModel keeps its parsed graph private; this is the only way to see which ops tfjs will run.
  const graph = (model as unknown as { executor: { graph: { nodes: Record<string, { op: string }> } } }).executor.graph;
  const counts = new Map<string, number>();
  for (const { op } of Object.values(graph.nodes)) counts.set(op, (counts.get(op) ?? 0) + 1);
  return counts;
}

/** The zoo's preprocessing (recognizers/human-graph.ts) of RGB 0..255 crops. */
function toModelInput(entry: ModelEntry, faces: tf.Tensor4D): tf.Tensor4D {
  return entry.input.channels === 'BGR'
    ? (tf.sub(tf.reverse(faces, -1), tf.tensor1d([103.939, 116.779, 123.68])) as tf.Tensor4D)
    : faces;
}

async function bothModels(entry: ModelEntry) {
  return {
    plain: await loadUnfusedGraphModel(entry, readModelFileNode, { fuseActivations: false }),
    fused: await loadUnfusedGraphModel(entry, readModelFileNode),
  };
}

/** [faces, size, size, 3] RGB 0..255: the detected faces of two demo photos, box-cropped and resized. */
async function demoFaces(size: number): Promise<tf.Tensor4D> {
  const detector = await createFaceDetector(readModelFileNode);
  const crops: tf.Tensor4D[] = [];
  for (const name of ['sample1.jpg', 'sample2.jpg']) {
    const { image } = await demoPhoto(name);
    const faces = (await detector.detect(image, { maxFaces: 2 })).map(({ box }) => [
      box.y / image.height,
      box.x / image.width,
      (box.y + box.height) / image.height,
      (box.x + box.width) / image.width,
    ]);
    crops.push(
      tf.tidy(() => {
        const photo = tf.tensor4d(image.data, [1, image.height, image.width, 3], 'int32').toFloat();
        return tf.image.cropAndResize(photo, faces, Array(faces.length).fill(0), [size, size]);
      }),
    );
  }
  detector.dispose();
  const faces = tf.concat(crops) as tf.Tensor4D;
  tf.dispose(crops);
  return faces;
}

for (const { id, relu6, prelu } of human) {
  test(`${id}: every piecewise activation is rewritten, and outputs and embeddings are unchanged`, async () => {
    await useBackend(['wasm']);
    const entry = modelEntry(id);
    const { plain, fused } = await bothModels(entry);
    const before = graphOps(plain);
    const after = graphOps(fused);
    assert.equal(after.get('Relu6') ?? 0, relu6);
    assert.equal(after.get('Prelu') ?? 0, prelu);
    assert.equal(after.get('Minimum') ?? 0, 0);
    assert.equal(after.get('Maximum') ?? 0, 0);
    assert.equal(before.get('Minimum'), relu6 + prelu);

    const size = entry.input.size;
    const random = tf.randomUniform([2, size, size, 3], 0, 255, 'float32', 11) as tf.Tensor4D;
    const photos = await demoFaces(size);
    assert.ok(photos.shape[0] >= 2, 'the demo photos have faces');
    for (const [what, faces] of [
      ['random', random],
      ['photos', photos],
    ] as const) {
      const [a, b] = tf.tidy(() => {
        const input = toModelInput(entry, faces);
        const embed = (model: tf.GraphModel) =>
          tf.reshape(model.execute(input, entry.embedding!.output) as tf.Tensor, [faces.shape[0], -1]) as tf.Tensor2D;
        return [embed(plain), embed(fused)];
      });
      const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]));
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
      assert.ok(diff <= 1e-5 * scale, `${what}: max |difference| ${diff} (outputs up to ${scale})`);
      // The zoo compares normalised embeddings: cosine between old and new must be 1 for each face.
      const unit = (e: tf.Tensor2D) => tf.div(e, tf.norm(e, 2, 1, true));
      const cosines = tf.tidy(() => tf.sum(tf.mul(unit(a), unit(b)), 1).dataSync());
      // (float32 rounding alone puts the cosine of a vector with itself about 1e-6 below 1.)
      for (const cosine of cosines) assert.ok(cosine > 1 - 1e-5, `${what}: cosine ${cosine}`);
      tf.dispose([a, b]);
    }
    tf.dispose([random, photos]);
    plain.dispose();
    fused.dispose();
  });
}

for (const backend of ['wasm', 'cpu'] as const satisfies readonly BackendName[]) {
  for (const { id } of human) {
    test(`${id}: the input gradient is unchanged on ${backend}, and no alpha gradient is computed`, async () => {
      await useBackend([backend]);
      const entry = modelEntry(id);
      const { plain, fused } = await bothModels(entry);
      const size = entry.input.size;
      const x = tf.randomUniform([1, size, size, 3], 0, 255, 'float32', 13);
      const embed = (model: tf.GraphModel) => (input: tf.Tensor) =>
        model.execute(toModelInput(entry, input as tf.Tensor4D), entry.embedding!.output) as tf.Tensor;
      // The loss's gradient is passed in as dy rather than summed inside, so that a Sum kernel would be the alpha one.
      const outputShape = tf.tidy(() => embed(plain)(x).shape);
      const direction = tf.randomNormal(outputShape, 0, 1, 'float32', 17);
      const gradientOf = (model: tf.GraphModel) => tf.grad(embed(model))(x, direction);
      const expected = gradientOf(plain);
      let actual: tf.Tensor | undefined;
      const profile = await tf.profile(() => {
        actual = gradientOf(fused);
        return actual;
      });
      const relative = tf.tidy(
        () => tf.norm(tf.sub(expected, actual!)).dataSync()[0] / tf.norm(expected).dataSync()[0],
      );
      assert.ok(relative < 1e-4, `relative difference ${relative}`);
      // Prelu's alpha gradient would run ZerosLike and a Sum over batch and space; gamma is a constant, so neither.
      const kernels = new Set(profile.kernels.map((k) => k.name));
      assert.ok(!kernels.has('ZerosLike') && !kernels.has('Sum'), [...kernels].join(', '));
      assert.ok(!kernels.has('Minimum') && !kernels.has('Maximum'), [...kernels].join(', '));
      tf.dispose([x, direction, expected, actual!]);
      plain.dispose();
      fused.dispose();
    });
  }
}
