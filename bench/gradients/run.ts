/**
 * Input-gradient benchmark on Node wasm: what a forward pass and an input gradient of each recognizer cost with
 * tfjs's own convolution backward kernels ("native": the naive C++ Conv2DBackpropInput, our JS depthwise loop and
 * wasm's copying Identity), with only Identity sharing buffers ("identity"), and with the replacements built on the
 * XNNPACK forward kernels (src/engine/backends/wasm-conv-backprop.ts) in each stride decomposition ("dilate":
 * zero-insertion, "phases": one convolution per output phase, "auto": the per-geometry choice the engine uses).
 *
 *   npx tsx bench/gradients/run.ts [--repeats 5] [--ids human-faceres,...] [--by-shape]
 *
 * The variants are interleaved within every round, so that load from other processes on a shared machine hits
 * them alike; medians over the rounds. --by-shape adds, per variant, the time of every backward convolution
 * geometry (summed over one gradient). Prints tables and ends with one JSON line starting {"bench":"gradients".
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backends/backends.ts';
import { type StrideStrategy, convBackpropOptions } from '../../src/engine/backends/wasm-conv-backprop.ts';
import type { RecognizerId } from '../../src/engine/faces/types.ts';
import { readModelFileNode } from '../../src/engine/models/read-node.ts';
import type { Recognizer } from '../../src/engine/recognizers/recognizer.ts';
import { loadRecognizer, recognizerIds } from '../../src/engine/recognizers/zoo.ts';
import { median } from '../lib/stats.ts';
import { formatTable, num } from '../lib/table.ts';

const { values: args } = parseArgs({
  options: {
    repeats: { type: 'string', default: '5' },
    ids: { type: 'string' },
    'by-shape': { type: 'boolean', default: false },
  },
});
const repeats = Number(args.repeats);
const ids = (args.ids ? args.ids.split(',') : recognizerIds) as RecognizerId[];
const log = (message: string) => process.stderr.write(`${message}\n`);

interface Variant {
  name: string;
  /** Backward convolutions through the forward kernels. */
  viaForward: boolean;
  /** Identity sharing buffers (the engine's copies of saved inputs, and the filter cache's hits, depend on it). */
  identity: boolean;
  strided: StrideStrategy;
}
const variants: Variant[] = [
  { name: 'native', viaForward: false, identity: false, strided: 'auto' },
  { name: 'identity', viaForward: false, identity: true, strided: 'auto' },
  { name: 'dilate', viaForward: true, identity: true, strided: 'dilate' },
  { name: 'phases', viaForward: true, identity: true, strided: 'phases' },
  { name: 'auto', viaForward: true, identity: true, strided: 'auto' },
];

function use(variant: Variant) {
  convBackpropOptions.conv2d = variant.viaForward;
  convBackpropOptions.depthwise = variant.viaForward;
  convBackpropOptions.identity = variant.identity;
  convBackpropOptions.strided = variant.strided;
}

await useBackend(['wasm']);

// Per-geometry timing: the backward kernels are wrapped once; `shapeTimes` collects into the running variant.
let shapeTimes: Map<string, number> | null = null;
if (args['by-shape']) {
  for (const kernelName of [tf.Conv2DBackpropInput, tf.DepthwiseConv2dNativeBackpropInput]) {
    const kernel = tf.getKernel(kernelName, 'wasm')!;
    const inner = kernel.kernelFunc;
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({
      ...kernel,
      kernelFunc: (call) => {
        const started = performance.now();
        const out = inner(call);
        const ms = performance.now() - started;
        if (shapeTimes) {
          const { dy, filter } = call.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
          const attrs = call.attrs as { strides: number | number[]; pad: unknown; inputShape: number[] };
          const key = `${kernelName === tf.Conv2DBackpropInput ? 'conv' : 'dw'} dx ${attrs.inputShape.slice(1).join('x')} W ${filter.shape.join('x')} dy ${dy.shape.slice(1).join('x')} s${attrs.strides} ${JSON.stringify(attrs.pad)}`;
          shapeTimes.set(key, (shapeTimes.get(key) ?? 0) + ms);
        }
        return out;
      },
    });
  }
}

async function once(compute: () => tf.Tensor): Promise<number> {
  const started = performance.now();
  const out = compute();
  await out.data();
  out.dispose();
  return performance.now() - started;
}

const gradientOf = (recognizer: Recognizer, faces: tf.Tensor4D) =>
  tf.grad((x: tf.Tensor) => tf.sum(recognizer.embed(x as tf.Tensor4D)))(faces);

interface Row {
  id: RecognizerId;
  variant: string;
  forwardMs: number;
  gradientMs: number;
}
const rows: Row[] = [];
const byShape: Array<{ id: RecognizerId; geometry: string; ms: Record<string, number> }> = [];

for (const id of ids) {
  log(`${id}: loading`);
  const recognizer = await loadRecognizer(id, readModelFileNode);
  const size = recognizer.inputSize;
  const faces = tf.randomUniform([1, size, size, 3], 0, 255, 'float32', 1) as tf.Tensor4D;
  try {
    const times = new Map(variants.map((v) => [v.name, { forward: [] as number[], gradient: [] as number[] }]));
    for (const variant of variants) {
      use(variant);
      await once(() => recognizer.embed(faces)); // warm-up: operator creation, weight packing
      await once(() => gradientOf(recognizer, faces));
    }
    for (let round = 0; round < repeats; round++) {
      for (const variant of variants) {
        use(variant);
        const t = times.get(variant.name)!;
        t.forward.push(await once(() => recognizer.embed(faces)));
        t.gradient.push(await once(() => gradientOf(recognizer, faces)));
      }
    }
    for (const variant of variants) {
      const t = times.get(variant.name)!;
      rows.push({ id, variant: variant.name, forwardMs: median(t.forward), gradientMs: median(t.gradient) });
    }
    if (args['by-shape']) {
      // Median over rounds of each geometry's summed time per gradient.
      const samples = new Map<string, Map<string, number[]>>();
      for (let round = 0; round < repeats; round++) {
        for (const variant of variants) {
          use(variant);
          shapeTimes = new Map();
          gradientOf(recognizer, faces).dispose(); // wasm kernels run synchronously
          for (const [geometry, ms] of shapeTimes) {
            const perVariant = samples.get(geometry) ?? new Map<string, number[]>();
            perVariant.set(variant.name, [...(perVariant.get(variant.name) ?? []), ms]);
            samples.set(geometry, perVariant);
          }
          shapeTimes = null;
        }
      }
      for (const [geometry, perVariant] of samples) {
        byShape.push({ id, geometry, ms: Object.fromEntries([...perVariant].map(([v, ms]) => [v, median(ms)])) });
      }
    }
  } finally {
    faces.dispose();
    recognizer.dispose();
  }
}
use(variants[variants.length - 1]);

const native = (id: RecognizerId) => rows.find((r) => r.id === id && r.variant === 'native')!;
console.log(`Node wasm, batch 1, median of ${repeats} interleaved rounds (ms); ratio = native gradient / variant gradient\n`);
console.log(
  formatTable(
    ['recognizer', 'variant', 'forward', 'gradient', 'gradient/forward', 'speed-up'],
    rows.map((r) => [
      r.id,
      r.variant,
      num(r.forwardMs, 1),
      num(r.gradientMs, 1),
      num(r.gradientMs / r.forwardMs, 2),
      num(native(r.id).gradientMs / r.gradientMs, 2),
    ]),
  ),
);
if (byShape.length > 0) {
  console.log(`\nBackward convolutions per geometry (ms summed over one gradient, median of ${repeats})\n`);
  console.log(
    formatTable(
      ['recognizer', 'geometry', ...variants.map((v) => v.name), 'native/auto'],
      byShape
        .sort((a, b) => (b.ms.native ?? 0) - (a.ms.native ?? 0))
        .map((s) => [s.id, s.geometry, ...variants.map((v) => num(s.ms[v.name] ?? Number.NaN, 2)), num(s.ms.native / s.ms.auto, 1)]),
    ),
  );
}
console.log(JSON.stringify({ bench: 'gradients', backend: 'wasm', repeats, rows, byShape }));
