/**
 * Input gradients of convolutions on wasm, computed with the forward convolution kernels (XNNPACK).
 *
 * Why: tfjs-backend-wasm 4.22's Conv2DBackpropInput is a naive C++ loop, 5-10x slower than its XNNPACK forward
 * Conv2D on the same shapes, and it was half of every recognizer's input-gradient time; DepthwiseConv2dNative has
 * no backward kernel at all on wasm (wasm-gradient-kernels.ts registers a JS loop). The input gradient of a
 * convolution is itself a convolution:
 *
 *   dx = conv2d(dilate(dy, stride), rot180(W) with in/out channels swapped, stride 1, padding adjusted)
 *
 * Dilating dy inserts (stride - 1) zeros between pixels, so for stride 2 three quarters of the products are with
 * zeros. For full convolutions each output phase (dx pixels at rows ≡ rh, columns ≡ rw modulo the stride) is
 * instead computed as its own stride-1 convolution of the undilated dy with the filter taps that reach that phase
 * (a 3x3 filter splits into 2x2, 2x1, 1x2 and 1x1 sub-filters), and the phases are interleaved into dx: the same
 * products as the naive kernel, none with zeros. Depthwise convolutions, memory-bound, keep zero-insertion
 * (backpropViaForward says why; bench/gradients/run.ts measures both decompositions).
 *
 * The backward filters are derived once per weight and cached (backwardFilter), which only hits because Identity
 * is replaced too (identitySharingBuffer).
 *
 * Derivation, per axis (the two axes are independent). The forward convolution reads x[o*s + k - pad] for output
 * o and tap k, so dx[i] = sum over (o, k) with o*s + k - pad = i of dy[o] * W[k]. For the phase i = r + s*a:
 *   k ≡ r + pad (mod s): taps k0 + s*j, j < J, with k0 = (r + pad) mod s and J = ceil((K - k0) / s);
 *   o = a + c - j with c = (r + pad - k0) / s;
 * reversing j turns this into a correlation of dy with the reversed sub-filter, padded by J-1-c before and by
 * A + c - Ho after, where A = ceil((H - r) / s) is the phase's length. Stride 1 is the single phase r = 0.
 * A negative padding there (dy rows that only ever met x's padding) is run as padding 0 with the surplus output
 * rows dropped.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type KernelArgs = {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
};
type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/** One phase along one axis: which dx positions it fills and the stride-1 correlation that computes them. */
interface AxisPhase {
  /** dx positions r, r + s, r + 2s, ... */
  offset: number;
  /** How many: ceil((inLength - offset) / s). */
  length: number;
  /** First filter tap reaching this phase; taps firstTap, firstTap + s, ... */
  firstTap: number;
  /** Number of taps (0: the phase gets no gradient, e.g. the odd pixels of a 1x1 stride-2 convolution). */
  taps: number;
  padBefore: number;
  padAfter: number;
}

function axisPhases(inLength: number, dyLength: number, filterLength: number, stride: number, pad: number): AxisPhase[] {
  const phases: AxisPhase[] = [];
  for (let offset = 0; offset < stride; offset++) {
    const length = Math.max(0, Math.ceil((inLength - offset) / stride));
    const firstTap = (((offset + pad) % stride) + stride) % stride;
    const taps = firstTap < filterLength ? Math.ceil((filterLength - firstTap) / stride) : 0;
    const c = (offset + pad - firstTap) / stride;
    phases.push({ offset, length, firstTap, taps, padBefore: taps - 1 - c, padAfter: length + c - dyLength });
  }
  return phases;
}

/** Zero-insertion: dy dilated by the stride, correlated with the whole reversed filter. */
function dilatedPlan(inLength: number, dyLength: number, filterLength: number, stride: number, pad: number) {
  const dilatedLength = (dyLength - 1) * stride + 1;
  const padBefore = filterLength - 1 - pad;
  return { dilatedLength, padBefore, padAfter: inLength - dilatedLength - padBefore + filterLength - 1 };
}

export type StrideStrategy = 'auto' | 'phases' | 'dilate';

interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  /** Channels of x (and dx). */
  inChannels: number;
  /** Channels of dy. */
  outChannels: number;
  dyHeight: number;
  dyWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
  depthwise: boolean;
}

function geometry(info: tf.backend_util.Conv2DInfo, depthwise: boolean): ConvGeometry {
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outChannels: info.outChannels,
    dyHeight: info.outHeight,
    dyWidth: info.outWidth,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    depthwise,
  };
}

/**
 * The backward filter of one phase: taps firstTap + s*j reversed, and for a full convolution [in, out] swapped.
 *   full:      W [fh, fw, inC, outC]  ->  V [th, tw, outC, inC]
 *   depthwise: W [fh, fw, C, 1]       ->  V [th, tw, C, 1]
 */
function phaseFilter(
  wasm: BackendWasm,
  filter: tf.TensorInfo,
  g: ConvGeometry,
  rows: { firstTap: number; taps: number; step: number },
  cols: { firstTap: number; taps: number; step: number },
): tf.TensorInfo {
  const inC = g.inChannels;
  const outC = g.depthwise ? 1 : g.outChannels;
  const out = wasm.makeOutput([rows.taps, cols.taps, g.depthwise ? inC : outC, g.depthwise ? 1 : inC], 'float32');
  // Views are taken after makeOutput: allocating can grow (and so detach) the wasm heap.
  const v = wasm.typedArrayFromHeap(out) as Float32Array;
  const w = wasm.typedArrayFromHeap(filter) as Float32Array;
  const tapSize = inC * outC;
  for (let jh = 0; jh < rows.taps; jh++) {
    const kh = rows.firstTap + rows.step * (rows.taps - 1 - jh);
    for (let jw = 0; jw < cols.taps; jw++) {
      const kw = cols.firstTap + cols.step * (cols.taps - 1 - jw);
      const from = (kh * g.filterWidth + kw) * tapSize;
      const to = (jh * cols.taps + jw) * tapSize;
      if (g.depthwise) {
        v.set(w.subarray(from, from + tapSize), to);
        continue;
      }
      for (let ci = 0; ci < inC; ci++) {
        const row = from + ci * outC;
        for (let co = 0; co < outC; co++) v[to + co * inC + ci] = w[row + co];
      }
    }
  }
  return out;
}

/**
 * Backward filters already derived from a filter, by the filter's dataId and then by geometry.
 *
 * Why: the filters are the model's weights, the same on every step. Deriving one (a transposing copy) and the
 * XNNPACK operator that packs it, keyed by the filter buffer's id inside the wasm Conv2D kernel, cost more than the
 * convolution itself for small activations with large filters (faceres' 7x7x1024 layer, 1x1x1024x1024 filter:
 * 97 ms per gradient derived every time, 10-14 ms cached, 83 ms for the native kernel, on a loaded 2-core machine).
 * Kept, a derived filter and its packed operator are built once. The price is wasm heap: about two more copies of
 * each convolution weight (ours and XNNPACK's packing of it), outside tf.memory()'s count.
 * A dataId's contents never change (tfjs tensors are immutable; Variable.assign swaps in a new dataId), so the
 * cache is only ever stale when the filter is freed, and it is freed with it (watchDisposal).
 */
const derivedFilters = new WeakMap<object, Map<string, tf.TensorInfo>>();
const watchedBackends = new WeakSet<BackendWasm>();

/** Frees the derived filters when the wasm backend frees the filter they come from. */
function watchDisposal(wasm: BackendWasm) {
  if (watchedBackends.has(wasm)) return;
  watchedBackends.add(wasm);
  const disposeData = wasm.disposeData.bind(wasm);
  wasm.disposeData = (dataId: object, force?: boolean) => {
    const released = disposeData(dataId, force);
    const derived = released ? derivedFilters.get(dataId) : undefined;
    if (derived) {
      derivedFilters.delete(dataId);
      for (const info of derived.values()) disposeData(info.dataId, true);
    }
    return released;
  };
}

/** phaseFilter, once per filter buffer and geometry; the result belongs to the cache (never dispose it). */
function backwardFilter(
  wasm: BackendWasm,
  filter: tf.TensorInfo,
  g: ConvGeometry,
  rows: { firstTap: number; taps: number; step: number },
  cols: { firstTap: number; taps: number; step: number },
): tf.TensorInfo {
  watchDisposal(wasm);
  // The shape is part of the key: a reshape shares its source's dataId.
  const key = `${filter.shape}|${g.depthwise}|${rows.firstTap},${rows.taps},${rows.step}|${cols.firstTap},${cols.taps},${cols.step}`;
  let derived = derivedFilters.get(filter.dataId);
  if (!derived) {
    derived = new Map();
    derivedFilters.set(filter.dataId, derived);
  }
  let v = derived.get(key);
  if (!v) {
    v = phaseFilter(wasm, filter, g, rows, cols);
    derived.set(key, v);
  }
  return v;
}

/**
 * Identity for wasm that shares its input's buffer (reference-counted) instead of copying it, as tfjs's cpu and
 * webgl Identity kernels and wasm's own Reshape do.
 *
 * Why: while a gradient is recorded, tfjs's engine keeps every input a backward kernel needs through clone(), that
 * is through Identity (engine.saveTensorsForBackwardMode), and wasm's Identity copies. So every forward pass under
 * tf.grad copied all the convolution weights, and the filter reaching the backward kernels was a fresh buffer each
 * step, which defeats the cache of derived backward filters above. Sharing is safe because no wasm kernel writes
 * into an input buffer: a buffer's contents are fixed once the kernel that made it returns.
 */
export function identitySharingBuffer(copying: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (!convBackpropOptions.identity || x.dtype === 'string') return copying(args);
    (args.backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/** Runs the wasm forward kernel (Conv2D or DepthwiseConv2dNative) at stride 1 with explicit padding. */
function forwardConv(
  wasm: BackendWasm,
  forward: KernelFunc,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: [number, number, number, number],
): tf.TensorInfo {
  const [top, bottom, left, right] = pads;
  const pad = [[0, 0], [top, bottom], [left, right], [0, 0]] as tf.backend_util.ExplicitPadding;
  return forward({ inputs: { x, filter }, backend: wasm, attrs: { strides: [1, 1], pad, dilations: [1, 1], dataFormat: 'NHWC' } });
}

function dispose(wasm: BackendWasm, infos: tf.TensorInfo[]) {
  for (const info of infos) wasm.disposeData(info.dataId);
}

/** The correlation's paddings clamped at 0, and how many leading output rows (or columns) that adds. */
function clamp(p: AxisPhase) {
  const before = Math.max(0, p.padBefore);
  return { before, after: Math.max(0, p.padAfter), skip: before - p.padBefore };
}

/** dx by phase decomposition. */
function backpropByPhases(wasm: BackendWasm, forward: KernelFunc, dy: tf.TensorInfo, filter: tf.TensorInfo, g: ConvGeometry) {
  const rowPhases = axisPhases(g.inHeight, g.dyHeight, g.filterHeight, g.strideHeight, g.padTop);
  const colPhases = axisPhases(g.inWidth, g.dyWidth, g.filterWidth, g.strideWidth, g.padLeft);
  const live = (p: AxisPhase) => p.taps > 0 && p.length > 0;
  const exact = (p: AxisPhase) => p.padBefore >= 0 && p.padAfter >= 0;
  if (rowPhases.length === 1 && colPhases.length === 1) {
    const [rows] = rowPhases;
    const [cols] = colPhases;
    if (live(rows) && live(cols) && exact(rows) && exact(cols)) {
      // Stride 1 (the usual case): the correlation's output is dx itself.
      const v = backwardFilter(wasm, filter, g, { ...rows, step: 1 }, { ...cols, step: 1 });
      return forwardConv(wasm, forward, dy, v, [rows.padBefore, rows.padAfter, cols.padBefore, cols.padAfter]);
    }
  }

  // A negative padding means that the phase's first (or last) rows of dy reach only padding of x: the correlation
  // runs with that padding at 0 and its extra output rows are skipped when interleaving.
  const parts: Array<{ rows: AxisPhase; cols: AxisPhase; skipRows: number; skipCols: number; width: number; out: tf.TensorInfo }> = [];
  let complete = true;
  for (const rows of rowPhases) {
    for (const cols of colPhases) {
      if (!live(rows) || !live(cols)) {
        complete = complete && (rows.length === 0 || cols.length === 0);
        continue;
      }
      const r = clamp(rows);
      const c = clamp(cols);
      const v = backwardFilter(wasm, filter, g, { ...rows, step: g.strideHeight }, { ...cols, step: g.strideWidth });
      const out = forwardConv(wasm, forward, dy, v, [r.before, r.after, c.before, c.after]);
      // out: [batch, >= rows.length, width, inChannels]
      parts.push({ rows, cols, skipRows: r.skip, skipCols: c.skip, width: out.shape[2], out });
    }
  }
  const dx = wasm.makeOutput([g.batch, g.inHeight, g.inWidth, g.inChannels], 'float32');
  // Views are taken after the last allocation: allocating can grow (and so detach) the wasm heap.
  const dxData = wasm.typedArrayFromHeap(dx) as Float32Array;
  if (!complete) dxData.fill(0); // some phase has no taps: its pixels get no gradient
  const C = g.inChannels;
  const dxStep = g.strideWidth * C;
  for (const { rows, cols, skipRows, skipCols, width, out } of parts) {
    const part = wasm.typedArrayFromHeap(out) as Float32Array;
    const height = out.shape[1];
    for (let b = 0; b < g.batch; b++) {
      for (let a = 0; a < rows.length; a++) {
        const dxRow = ((b * g.inHeight + rows.offset + a * g.strideHeight) * g.inWidth + cols.offset) * C;
        const partRow = ((b * height + skipRows + a) * width + skipCols) * C;
        for (let i = 0; i < cols.length; i++) {
          const to = dxRow + i * dxStep;
          const from = partRow + i * C;
          for (let ch = 0; ch < C; ch++) dxData[to + ch] = part[from + ch];
        }
      }
    }
  }
  dispose(wasm, parts.map((p) => p.out));
  return dx;
}

/** dx by zero-insertion: dy dilated by the stride, one stride-1 correlation with the whole reversed filter. */
function backpropByDilation(wasm: BackendWasm, forward: KernelFunc, dy: tf.TensorInfo, filter: tf.TensorInfo, g: ConvGeometry) {
  const rows = dilatedPlan(g.inHeight, g.dyHeight, g.filterHeight, g.strideHeight, g.padTop);
  const cols = dilatedPlan(g.inWidth, g.dyWidth, g.filterWidth, g.strideWidth, g.padLeft);
  if (Math.min(rows.padBefore, rows.padAfter, cols.padBefore, cols.padAfter) < 0) return null;
  const C = g.outChannels;
  const dilated = wasm.makeOutput([g.batch, rows.dilatedLength, cols.dilatedLength, C], 'float32');
  const to = wasm.typedArrayFromHeap(dilated) as Float32Array;
  const from = wasm.typedArrayFromHeap(dy) as Float32Array;
  to.fill(0);
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.dyHeight; oy++) {
      for (let ox = 0; ox < g.dyWidth; ox++) {
        const src = ((b * g.dyHeight + oy) * g.dyWidth + ox) * C;
        const dst = ((b * rows.dilatedLength + oy * g.strideHeight) * cols.dilatedLength + ox * g.strideWidth) * C;
        for (let c = 0; c < C; c++) to[dst + c] = from[src + c];
      }
    }
  }
  const whole = (length: number) => ({ firstTap: 0, taps: length, step: 1 });
  const v = backwardFilter(wasm, filter, g, whole(g.filterHeight), whole(g.filterWidth));
  const dx = forwardConv(wasm, forward, dilated, v, [rows.padBefore, rows.padAfter, cols.padBefore, cols.padAfter]);
  dispose(wasm, [dilated]);
  return dx;
}

/**
 * Switches for bench/gradients/run.ts, which times the replacements against the kernels they replace (and the two
 * stride decompositions) in one process. The engine never changes them.
 */
export const convBackpropOptions: { conv2d: boolean; depthwise: boolean; identity: boolean; strided: StrideStrategy } = {
  conv2d: true,
  identity: true,
  depthwise: true,
  strided: 'auto',
};

/**
 * Picks the decomposition per geometry, from bench/gradients/run.ts --by-shape (Node wasm, 2 cores):
 * - dx of a single pixel: null, i.e. the fallback kernel. It only visits the taps that meet x, while the
 *   correlation also multiplies the padding (8 of 9 taps for a 3x3 SAME filter): 0.13 vs 0.4 ms for face-api's
 *   1x1x256 layer, the only such shape in the zoo.
 * - stride 1: the single correlation, 6-80x faster than the fallback on every other geometry in the zoo.
 * - strided full convolutions: phases. Their cost is the multiplications, a quarter of zero-insertion's
 *   (face-api 7x7 stride 2 on 150x150: 9 ms vs 35 ms dilated, 40 ms native).
 * - strided depthwise convolutions: zero-insertion. With 9 multiplications per pixel the cost is memory traffic,
 *   and four small convolutions plus interleaving them in JS move more than one convolution over the dilated dy
 *   (faceres 112x112x64: 7 ms dilated vs 14 ms in phases, 22 ms for the JS loop).
 */
function backpropViaForward(wasm: BackendWasm, forward: KernelFunc, dy: tf.TensorInfo, filter: tf.TensorInfo, g: ConvGeometry) {
  if (g.inHeight * g.inWidth === 1) return null;
  const strided = g.strideHeight > 1 || g.strideWidth > 1;
  const strategy = convBackpropOptions.strided === 'auto' ? (g.depthwise ? 'dilate' : 'phases') : convBackpropOptions.strided;
  if (strided && strategy === 'dilate') {
    // Zero-insertion cannot express a padding wider than the filter; phases can.
    return backpropByDilation(wasm, forward, dy, filter, g) ?? backpropByPhases(wasm, forward, dy, filter, g);
  }
  return backpropByPhases(wasm, forward, dy, filter, g);
}

function forwardKernel(name: string): KernelFunc {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new Error(`wasm backend has no ${name} kernel`);
  return kernel.kernelFunc as unknown as KernelFunc;
}

/**
 * Conv2DBackpropInput through the forward Conv2D; `fallback` (tfjs's own kernel) takes NCHW and the shapes the
 * decomposition cannot express.
 */
export function conv2dBackpropInputViaForward(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const attrs = args.attrs!;
    const dataFormat = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat as 'NHWC' | 'NCHW');
    if (!convBackpropOptions.conv2d || dataFormat !== 'channelsLast') return fallback(args);
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      attrs.strides as [number, number] | number,
      1,
      attrs.pad as 'valid' | 'same' | number | tf.backend_util.ExplicitPadding,
      attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    );
    const wasm = args.backend as BackendWasm;
    return backpropViaForward(wasm, forwardKernel(tf.Conv2D), dy, filter, geometry(info, false)) ?? fallback(args);
  };
}

/**
 * DepthwiseConv2dNativeBackpropInput through the forward DepthwiseConv2dNative, for channel multiplier 1 and no
 * dilation (every depthwise layer in the zoo); `fallback` takes the rest.
 */
export function depthwiseBackpropInputViaForward(fallback: KernelFunc): KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const attrs = args.attrs!;
    const dilations = tf.backend_util.tupleValuesAreOne((attrs.dilations ?? 1) as number | [number, number]);
    if (!convBackpropOptions.depthwise || filter.shape[3] !== 1 || !dilations) return fallback(args);
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      attrs.strides as [number, number] | number,
      1,
      attrs.pad as 'valid' | 'same' | number | tf.backend_util.ExplicitPadding,
      attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
      true,
    );
    const wasm = args.backend as BackendWasm;
    return backpropViaForward(wasm, forwardKernel(tf.DepthwiseConv2dNative), dy, filter, geometry(info, true)) ?? fallback(args);
  };
}
