/**
 * Differentiable image transformations for expectation over transformations (EOT): the blur, JPEG, resizing and
 * small shifts that sites and trackers apply to uploaded photos. The cloak optimises through a random one of them every
 * step so that the perturbation survives them (a published study found median and box blur of size 9-11 undo
 * LowKey-style cloaks unless the attack optimises through them).
 *
 * Every function takes a float image `x: [N, H, W, 3]` in 0..255 and returns a new tensor of the same shape. They are
 * synchronous and leak nothing (each runs in its own tf.tidy, which is safe inside tf.grad: tensors the tape saves are
 * kept by the engine). They are built only from ops whose gradients are correct and cheap on wasm, cpu, webgl and
 * webgpu: slice, concat, tile, pad, reshape, transpose, matMul, depthwiseConv2d, avgPool, relu and elementwise ops,
 * plus tf.customGrad where a hand-written gradient is cheaper (symmetric filters, median, straight-through rounding).
 * Deliberately not used:
 * - gather / gatherND: their gradient (UnsortedSegmentSum) is quadratic on cpu and webgl;
 * - tf.mirrorPad: its gradient in tfjs 4.22 only slices the centre out of dy, dropping the reflected contributions,
 *   so borders would get a wrong gradient. Padding here is edge (replicate, OpenCV's BORDER_REPLICATE) padding built
 *   from slice + tile + concat, whose gradient is exact;
 * - tf.image.resizeBilinear with halfPixelCenters: its gradient in tfjs 4.22 is wrong on every backend (see
 *   resampleAxis); resizing is done with banded resampling matrices instead;
 * - tf.minimum / tf.maximum: correct but 3-5x slower than relu arithmetic on wasm (see medianOf).
 */
import * as tf from '@tensorflow/tfjs';

// ---------------------------------------------------------------------------------------------------------------
// Padding

/**
 * x[:, start:start+count] along H (axis 1) or W (axis 2). Done on a 3-D or 2-D view so that each copied run is a
 * whole row: tfjs-wasm's 4-D slice copies one pixel (3 floats) at a time and costs ~15 ms on a 512x512 image.
 */
export function sliceAxis(x: tf.Tensor4D, axis: 1 | 2, start: number, count: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (axis === 1) {
    return tf.reshape(tf.slice(tf.reshape(x, [n, h, w * c]), [0, start, 0], [n, count, w * c]), [n, count, w, c]);
  }
  return tf.reshape(tf.slice(tf.reshape(x, [n * h, w * c]), [0, start * c], [n * h, count * c]), [n, h, count, c]);
}

/**
 * Edge (replicate) padding of an [N, H, W, C] tensor: the outermost row / column repeated. Exact gradient. Rows are
 * concatenated on an [N, H, W*C] view and columns on an [N*H, W*C] view, so that the gradient's split copies whole
 * rows (4-D splits on wasm copy pixel by pixel).
 */
export function padEdge(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    let y: tf.Tensor = x;
    if (top > 0 || bottom > 0) {
      const rows = tf.reshape(x, [n, h, w * c]);
      const parts: tf.Tensor[] = [];
      if (top > 0) parts.push(tf.tile(tf.slice(rows, [0, 0, 0], [n, 1, w * c]), [1, top, 1]));
      parts.push(rows);
      if (bottom > 0) parts.push(tf.tile(tf.slice(rows, [0, h - 1, 0], [n, 1, w * c]), [1, bottom, 1]));
      y = tf.concat(parts, 1);
    }
    const ph = h + top + bottom;
    if (left > 0 || right > 0) {
      const cols = tf.reshape(y, [n * ph, w * c]);
      const parts: tf.Tensor[] = [];
      if (left > 0) parts.push(tf.tile(tf.slice(cols, [0, 0], [n * ph, c]), [1, left]));
      parts.push(cols);
      if (right > 0) parts.push(tf.tile(tf.slice(cols, [0, (w - 1) * c], [n * ph, c]), [1, right]));
      y = tf.concat(parts, 1);
    }
    return y === x ? tf.clone(x) : tf.reshape(y, [n, ph, w + left + right, c]);
  });
}

function assertImage(x: tf.Tensor4D, what: string): void {
  if (x.rank !== 4) throw new Error(`${what}: expected an [N, H, W, C] tensor, got shape [${x.shape.join(', ')}]`);
}

function assertOddSize(size: number, what: string): void {
  if (!Number.isInteger(size) || size < 1 || size % 2 !== 1) throw new Error(`${what}: size must be an odd integer >= 1, got ${size}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Resampling along one axis as banded matrices
//
// tf.image.resizeBilinear is not used anywhere a gradient is needed: in tfjs 4.22 its gradient kernel ignores
// halfPixelCenters on every backend (cpu, wasm, webgl, webgpu all compute the align-corners=false legacy mapping), and
// the cpu kernel also returns a [N, W, H, C] shape, which throws for non-square images. Resizing here is a product
// with a sparse resampling matrix instead, applied in row tiles (slice + matMul + concat), whose gradients are exact.

/** A linear map from `inLength` samples to `outLength`, stored by rows: row i is weights[k] at column start + k. */
export interface Resampler {
  inLength: number;
  outLength: number;
  rows: { start: number; weights: number[] }[];
}

/** Area (box) downsampling from `inLength` to `outLength` <= inLength: each output averages its exact footprint. */
export function areaResampler(inLength: number, outLength: number): Resampler {
  const step = inLength / outLength;
  const rows = Array.from({ length: outLength }, (_, i) => {
    const a = i * step;
    const b = Math.min(inLength, (i + 1) * step);
    const start = Math.floor(a);
    const weights: number[] = [];
    for (let j = start; j < b; j++) weights.push((Math.min(b, j + 1) - Math.max(a, j)) / step);
    return { start, weights };
  });
  return { inLength, outLength, rows };
}

/**
 * Linear interpolation with half-pixel centres, clamped at the edges, from `inLength` to `outLength` samples: the
 * same weights as tf.image.resizeBilinear(..., halfPixelCenters = true), OpenCV's INTER_LINEAR and, for a factor of 2,
 * libjpeg's "fancy" chroma upsampling (3/4, 1/4).
 */
export function linearResampler(inLength: number, outLength: number): Resampler {
  const rows = Array.from({ length: outLength }, (_, i) => {
    const source = Math.min(inLength - 1, Math.max(0, ((i + 0.5) * inLength) / outLength - 0.5));
    const start = Math.floor(source);
    const t = source - start;
    return t > 0 && start + 1 < inLength ? { start, weights: [1 - t, t] } : { start, weights: [1] };
  });
  return { inLength, outLength, rows };
}

/** second(first(x)) as one resampler. */
export function composeResamplers(first: Resampler, second: Resampler): Resampler {
  const rows = second.rows.map(({ start, weights }) => {
    const terms = weights.map((weight, k) => ({ weight, row: first.rows[start + k] }));
    const lo = Math.min(...terms.map((t) => t.row.start));
    const hi = Math.max(...terms.map((t) => t.row.start + t.row.weights.length));
    const combined = new Array<number>(hi - lo).fill(0);
    for (const { weight, row } of terms) row.weights.forEach((v, k) => (combined[row.start - lo + k] += weight * v));
    return { start: lo, weights: combined };
  });
  return { inLength: first.inLength, outLength: second.outLength, rows };
}

/** Output rows per matMul tile: each tile multiplies a [tile, footprint] block of the resampling matrix. */
const resampleTile = 64;

/** The transposed map (outLength -> inLength), for the backward pass. */
export function transposeResampler(resampler: Resampler): Resampler {
  const columns = Array.from({ length: resampler.inLength }, () => new Map<number, number>());
  resampler.rows.forEach(({ start, weights }, i) => weights.forEach((v, k) => columns[start + k].set(i, v)));
  const rows = columns.map((column) => {
    if (column.size === 0) return { start: 0, weights: [0] };
    const keys = [...column.keys()];
    const start = Math.min(...keys);
    const weights = new Array<number>(Math.max(...keys) - start + 1).fill(0);
    column.forEach((v, i) => (weights[i - start] = v));
    return { start, weights };
  });
  return { inLength: resampler.outLength, outLength: resampler.inLength, rows };
}

/** `resampler` along axis 1 of [N, L, W, C], in row tiles: slice + matMul + concat. */
function applyResampler(x: tf.Tensor4D, resampler: Resampler): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (h !== resampler.inLength) throw new Error(`resampleAxis: length ${h}, resampler expects ${resampler.inLength}`);
  // [H, everything else]: a free reshape for one image, a transpose for a batch.
  const columns = n === 1 ? tf.reshape(x, [h, w * c]) : tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, n * w * c]);
  const tiles: tf.Tensor2D[] = [];
  for (let a = 0; a < resampler.outLength; a += resampleTile) {
    const rows = resampler.rows.slice(a, a + resampleTile);
    const lo = Math.min(...rows.map((r) => r.start));
    const hi = Math.max(...rows.map((r) => r.start + r.weights.length));
    const block = new Float32Array(rows.length * (hi - lo));
    rows.forEach((r, i) => r.weights.forEach((v, k) => (block[i * (hi - lo) + r.start - lo + k] = v)));
    const input = lo === 0 && hi === h ? columns : tf.slice(columns, [lo, 0], [hi - lo, -1]);
    tiles.push(tf.matMul(tf.tensor2d(block, [rows.length, hi - lo]), input));
  }
  const out = tiles.length === 1 ? tiles[0] : tf.concat(tiles, 0);
  const m = resampler.outLength;
  return n === 1 ? tf.reshape(out, [1, m, w, c]) : tf.transpose(tf.reshape(out, [m, n, w, c]), [1, 0, 2, 3]);
}

const transposedResamplers = new WeakMap<Resampler, Resampler>();

/**
 * Applies `resampler` along H (axis 1) or W (axis 2) of [N, H, W, C]. Linear, with a hand-written gradient: the
 * transposed resampler applied to dy the same way (one forward-cost pass instead of the tape's per-tile pads and sums).
 */
export function resampleAxis(x: tf.Tensor4D, axis: 1 | 2, resampler: Resampler): tf.Tensor4D {
  let transposed = transposedResamplers.get(resampler);
  if (!transposed) {
    transposed = transposeResampler(resampler);
    transposedResamplers.set(resampler, transposed);
  }
  const backward = transposed;
  const along = (t: tf.Tensor4D, r: Resampler) =>
    axis === 1 ? applyResampler(t, r) : tf.transpose(applyResampler(tf.transpose(t, [0, 2, 1, 3]), r), [0, 2, 1, 3]);
  const run = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.tidy(() => along(args[0] as tf.Tensor4D, resampler)),
    gradFunc: (dy: tf.Tensor) => along(dy as tf.Tensor4D, backward),
  }));
  return run(x) as tf.Tensor4D;
}

const resamplerCache = new Map<string, Resampler>();

function cachedResampler(key: string, make: () => Resampler): Resampler {
  let resampler = resamplerCache.get(key);
  if (!resampler) {
    if (resamplerCache.size > 256) resamplerCache.clear();
    resampler = make();
    resamplerCache.set(key, resampler);
  }
  return resampler;
}

/** Area downscale from `length` to `small` then linear upscale back: one L x L banded matrix. */
function roundTripResampler(length: number, small: number): Resampler {
  return cachedResampler(`trip ${length} ${small}`, () =>
    composeResamplers(areaResampler(length, small), linearResampler(small, length)),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Linear blurs

/**
 * `filter` (a 'valid' correlation along `axis` with a symmetric window of 2r + 1 taps) applied to the edge-padded
 * image, with a hand-written input gradient: for a symmetric window the gradient of a valid correlation is the same
 * correlation of dy zero-padded by 2r on both sides. This replaces tfjs's backward kernels (AvgPoolGrad, and
 * DepthwiseConv2dNativeBackpropInput, which on wasm is a JS loop) by one more forward pass: 4-6x faster on wasm.
 */
function symmetricFilter(
  x: tf.Tensor4D,
  axis: 1 | 2,
  r: number,
  filter: (t: tf.Tensor4D, kernel?: tf.Tensor4D) => tf.Tensor4D,
  kernel?: tf.Tensor4D,
): tf.Tensor4D {
  const padded = axis === 1 ? padEdge(x, r, r, 0, 0) : padEdge(x, 0, 0, r, r);
  const zeroPad: [number, number][] = axis === 1 ? [[0, 0], [2 * r, 2 * r], [0, 0], [0, 0]] : [[0, 0], [0, 0], [2 * r, 2 * r], [0, 0]];
  const run = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    // The kernel is saved (the engine keeps a copy) because the caller's tidy disposes it before the backward pass.
    (args[1] as tf.GradSaveFunc)(kernel ? [kernel] : []);
    return {
      value: filter(args[0] as tf.Tensor4D, kernel),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => filter(tf.pad(dy as tf.Tensor4D, zeroPad), saved[0] as tf.Tensor4D | undefined),
    };
  });
  return run(padded) as tf.Tensor4D;
}

/** Normalised 1-D Gaussian weights for radius ceil(3 sigma) (at least 1). */
export function gaussianWeights(sigma: number): number[] {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const weights: number[] = [];
  for (let i = -radius; i <= radius; i++) weights.push(Math.exp(-(i * i) / (2 * sigma * sigma)));
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((v) => v / total);
}

/**
 * Gaussian blur with standard deviation `sigma` pixels: separable depthwise convolution (along H, then W) with a
 * kernel of radius ceil(3 sigma), edge (replicate) padding, size kept. `sigma <= 0` returns a copy. Linear in `x`.
 */
export function gaussianBlur(x: tf.Tensor4D, sigma: number): tf.Tensor4D {
  assertImage(x, 'gaussianBlur');
  if (!(sigma > 0)) return tf.clone(x);
  return tf.tidy(() => {
    const weights = gaussianWeights(sigma);
    const k = weights.length;
    const c = x.shape[3];
    const taps = weights.flatMap((v) => new Array<number>(c).fill(v));
    const vertical = tf.tensor4d(taps, [k, 1, c, 1]);
    const horizontal = tf.tensor4d(taps, [1, k, c, 1]);
    const r = (k - 1) / 2;
    const conv = (t: tf.Tensor4D, kernel?: tf.Tensor4D) => tf.depthwiseConv2d(t, kernel as tf.Tensor4D, 1, 'valid');
    return symmetricFilter(symmetricFilter(x, 1, r, conv, vertical), 2, r, conv, horizontal);
  });
}

/**
 * Box (mean) blur over a size x size window (odd size), edge (replicate) padding, size kept: separable stride-1
 * average pooling ([size, 1] then [1, size], 'valid' on the padded image). Linear in `x`.
 */
export function boxBlur(x: tf.Tensor4D, size: number): tf.Tensor4D {
  assertImage(x, 'boxBlur');
  assertOddSize(size, 'boxBlur');
  if (size === 1) return tf.clone(x);
  const r = (size - 1) / 2;
  return tf.tidy(() => {
    const rows = symmetricFilter(x, 1, r, (t) => tf.avgPool(t, [size, 1], 1, 'valid'));
    return symmetricFilter(rows, 2, r, (t) => tf.avgPool(t, [1, size], 1, 'valid'));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Median blur

/** A compare-exchange: `lo` receives min(lo, hi), `hi` receives max(lo, hi); the flags say which is read later. */
export type Comparator = { lo: number; hi: number; needMin: boolean; needMax: boolean };

/**
 * Median selection networks from N. Devillard, "Fast median search: an ANSI C implementation" (opt_med3/5/7/9),
 * each pair [lo, hi] a compare-exchange. Fewer min/max than a pruned sorting network (30 vs 40 for 9 inputs).
 */
const devillardNetworks: Record<number, [number, number][]> = {
  3: [[0, 1], [1, 2], [0, 1]],
  5: [[0, 1], [3, 4], [0, 3], [1, 4], [1, 2], [2, 3], [1, 2]],
  7: [[0, 5], [0, 3], [1, 6], [2, 4], [0, 1], [3, 5], [2, 6], [2, 3], [3, 6], [4, 5], [1, 4], [1, 3], [3, 4]],
  9: [
    [1, 2], [4, 5], [7, 8], [0, 1], [3, 4], [6, 7], [1, 2], [4, 5], [7, 8], [0, 3],
    [5, 8], [4, 7], [3, 6], [1, 4], [2, 5], [4, 7], [4, 2], [6, 4], [4, 2],
  ],
};

/** Batcher's odd-even merge sort on n wires (built for the next power of two, comparators past n dropped). */
function batcherNetwork(n: number): [number, number][] {
  let p2 = 1;
  while (p2 < n) p2 *= 2;
  const all: [number, number][] = [];
  for (let p = 1; p < p2; p *= 2) {
    for (let k = p; k >= 1; k = Math.floor(k / 2)) {
      for (let j = k % p; j + k < p2; j += 2 * k) {
        for (let i = 0; i < k && i + j + k < n; i++) {
          if (Math.floor((i + j) / (2 * p)) === Math.floor((i + j + k) / (2 * p))) all.push([i + j, i + j + k]);
        }
      }
    }
  }
  return all;
}

const medianNetworks = new Map<number, Comparator[]>();

/**
 * Compare-exchanges computing the median (wire (n - 1) / 2) of n values, n odd: Devillard's networks for n <= 9,
 * otherwise Batcher's odd-even merge sort (dropping comparators on wires >= n is valid: those would hold +infinity).
 * Pruned to the comparators the median depends on, each marked with which of its two outputs is still read.
 */
export function medianNetwork(n: number): Comparator[] {
  const cached = medianNetworks.get(n);
  if (cached) return cached;
  const all = devillardNetworks[n] ?? batcherNetwork(n);
  const needed = new Set([(n - 1) / 2]);
  const kept: Comparator[] = [];
  for (let c = all.length - 1; c >= 0; c--) {
    const [lo, hi] = all[c];
    const needMin = needed.has(lo);
    const needMax = needed.has(hi);
    if (!needMin && !needMax) continue;
    kept.push({ lo, hi, needMin, needMax });
    needed.add(lo);
    needed.add(hi);
  }
  kept.reverse();
  medianNetworks.set(n, kept);
  return kept;
}

/**
 * Median of the given equally shaped tensors, elementwise, through the selection network. With temperature t > 0
 * each comparator is smoothed: max_t(a, b) = b + t softplus((a - b) / t), min_t(a, b) = a + b - max_t(a, b).
 */
function medianOf(values: readonly tf.Tensor[], temperature: number): tf.Tensor {
  const wires: (tf.Tensor | undefined)[] = values.slice();
  for (const { lo, hi, needMin, needMax } of medianNetwork(values.length)) {
    const a = wires[lo] as tf.Tensor;
    const b = wires[hi] as tf.Tensor;
    if (temperature > 0) {
      const smoothMax = tf.add(b, tf.mul(tf.softplus(tf.div(tf.sub(a, b), temperature)), temperature));
      wires[lo] = needMin ? tf.sub(tf.add(a, b), smoothMax) : undefined;
      wires[hi] = needMax ? smoothMax : undefined;
    } else {
      // min(a, b) = a - relu(a - b), max(a, b) = b + relu(a - b): relu, add and sub are XNNPACK kernels on wasm,
      // 3-5x faster there than tf.minimum / tf.maximum; exact up to the rounding of a - b and of the sum (< 2e-5 per
      // comparator on 0..255, far below medianTieTolerance after the few stages of a network).
      const excess = tf.relu(tf.sub(a, b));
      wires[lo] = needMin ? tf.sub(a, excess) : undefined;
      wires[hi] = needMax ? tf.add(b, excess) : undefined;
    }
  }
  return wires[(values.length - 1) / 2] as tf.Tensor;
}

/** Inputs within this many 8-bit levels of the median count as the one it selected (covers min/max rounding). */
const medianTieTolerance = 1 / 1024;

/**
 * Elementwise median of the inputs with a hand-written gradient: dy goes to the input(s) whose value the median took
 * (within medianTieTolerance), split evenly among ties, a valid subgradient. The selection network runs outside the
 * tape, so the backward pass costs ~6 cheap ops per input instead of the network's taped min/max gradients.
 */
const hardMedian = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const save = args.pop() as tf.GradSaveFunc;
  const values = args as tf.Tensor[];
  const value = tf.tidy(() => medianOf(values, 0));
  save([value, ...values]);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [median, ...inputs] = saved;
      // 1 where v equals the median, falling linearly to 0 at medianTieTolerance away.
      const masks = inputs.map((v) => tf.relu(tf.sub(1, tf.mul(tf.abs(tf.sub(v, median)), 1 / medianTieTolerance))));
      const share = tf.div(dy, tf.maximum(tf.addN(masks), 1e-6));
      return masks.map((mask) => tf.mul(share, mask));
    },
  };
});

/** Median over a window of `size` along H (axis 1) or W (axis 2), edge padded, size kept. */
function median1d(x: tf.Tensor4D, size: number, axis: 1 | 2, temperature: number): tf.Tensor4D {
  const r = (size - 1) / 2;
  const padded = axis === 1 ? padEdge(x, r, r, 0, 0) : padEdge(x, 0, 0, r, r);
  const length = x.shape[axis];
  const shifted: tf.Tensor[] = [];
  for (let i = 0; i < size; i++) shifted.push(sliceAxis(padded, axis, i, length));
  return (temperature > 0 ? medianOf(shifted, temperature) : hardMedian(...shifted)) as tf.Tensor4D;
}

/**
 * Approximate median blur over a size x size window (odd size), edge (replicate) padding, size kept.
 *
 * Approximation: separable median of medians. Each pixel gets the median over its row window of `size` pixels, then
 * the median of those row medians over its column window (rows first, then columns). This equals the true 2-D median
 * on constant images and, away from the borders, on linear ramps (at the borders it returns the ramp itself, which
 * the edge-padded 2-D median does not); on natural images it differs from the true median by 0.3-1.0 levels on
 * average for sizes 3 and 5 (measured in the unit test, where the filter itself changes the images by 0.8-4.3
 * levels), and by 0.8-0.9 levels for sizes 7 and 9 on photo crops (filter effect 2.7-3.4). Each 1-D median is exact: a
 * selection network of min/max (4, 10, 20, 30 of them for size 3, 5, 7, 9, from Devillard's networks; Batcher's
 * network for larger sizes), computed with relu arithmetic (see medianOf).
 *
 * Gradient, default `temperature` 0: the true subgradient of this (piecewise linear) approximation. Each 1-D median
 * passes an output pixel's gradient to the input pixel(s) whose value it took, split evenly among ties (within
 * 1/1024 level; common in 8-bit images). With `temperature` t > 0 (8-bit levels) every comparator is instead a
 * softplus-smoothed min/max (their sum still equals a + b) differentiated by the tape, which spreads the gradient
 * over near-median pixels at the cost of a biased forward value (within about t per comparator stage of the hard
 * one) and more time.
 */
export function medianBlurApprox(x: tf.Tensor4D, size: number, temperature = 0): tf.Tensor4D {
  assertImage(x, 'medianBlurApprox');
  assertOddSize(size, 'medianBlurApprox');
  if (size === 1) return tf.clone(x);
  return tf.tidy(() => median1d(median1d(x, size, 2, temperature), size, 1, temperature));
}

// ---------------------------------------------------------------------------------------------------------------
// JPEG

/** IJG / JPEG Annex K luminance quantisation table, natural (row-major) order: row = vertical frequency. */
export const lumaQuantTable: readonly number[] = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87,
  80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72,
  92, 95, 98, 112, 100, 103, 99,
];

/** IJG / JPEG Annex K chrominance quantisation table, natural order. */
export const chromaQuantTable: readonly number[] = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99,
  99, 99, 99, ...new Array<number>(32).fill(99),
];

/**
 * libjpeg's jpeg_set_quality: table scaled by floor(5000 / q) (q < 50) or 200 - 2q percent, rounded, clamped to
 * 1..255 (baseline). Matches the tables in sharp's output byte for byte (checked at q 30 and 75).
 */
export function scaledQuantTable(base: readonly number[], quality: number): number[] {
  const q = Math.min(100, Math.max(1, quality));
  const scale = q < 50 ? Math.floor(5000 / q) : 200 - 2 * q;
  return base.map((v) => Math.min(255, Math.max(1, Math.floor((v * scale + 50) / 100))));
}

/** Orthonormal 8-point DCT-II matrix D[u][y]; JPEG's FDCT of a block B is D B D^T. */
function dctMatrix(): number[][] {
  const d: number[][] = [];
  for (let u = 0; u < 8; u++) {
    const row: number[] = [];
    const cu = u === 0 ? Math.SQRT1_2 : 1;
    for (let y = 0; y < 8; y++) row.push(0.5 * cu * Math.cos(((2 * y + 1) * u * Math.PI) / 16));
    d.push(row);
  }
  return d;
}

/** 64x64 matrix K with K[y*8+x][u*8+v] = D[u][y] D[v][x]: coefficients = block (as a row of 64) @ K. */
const dct2dBasis: Float32Array = (() => {
  const d = dctMatrix();
  const k = new Float32Array(64 * 64);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      for (let u = 0; u < 8; u++) {
        for (let v = 0; v < 8; v++) k[(y * 8 + x) * 64 + u * 8 + v] = d[u][y] * d[v][x];
      }
    }
  }
  return k;
})();

/** Rounding with a straight-through gradient: forward tf.round, backward identity. */
const roundStraightThrough = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
  value: tf.round(args[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => dy,
}));

function round<T extends tf.Tensor>(x: T): T {
  return roundStraightThrough(x) as T;
}

/** [N, H, W, C] (H, W multiples of 8, values level-shifted) -> quantised and dequantised, same shape. */
function quantiseBlocks(v: tf.Tensor4D, table: readonly number[]): tf.Tensor4D {
  const [n, h, w, c] = v.shape;
  const blocks = tf.reshape(tf.transpose(tf.reshape(v, [n * (h / 8), 8, w / 8, 8, c]), [0, 2, 4, 1, 3]), [-1, 64]);
  const basis = tf.tensor2d(dct2dBasis, [64, 64]);
  const q = tf.tensor1d(table.slice());
  const coefficients = tf.matMul(blocks, basis);
  const dequantised = tf.mul(round(tf.div(coefficients, q)), q);
  const restored = tf.matMul(dequantised as tf.Tensor2D, basis, false, true);
  return tf.reshape(tf.transpose(tf.reshape(restored, [n * (h / 8), w / 8, c, 8, 8]), [0, 3, 1, 4, 2]), [n, h, w, c]);
}

// JFIF full-range colour conversion as libjpeg does it, as [3, k] matrices applied to RGB / YCbCr row vectors.
const rgbToY = [[0.299], [0.587], [0.114]];
const rgbToCbCr = [
  [-0.168735892, 0.5],
  [-0.331264108, -0.418687589],
  [0.5, -0.081312411],
];
const cbcrToRgb = [
  [0, -0.344136286, 1.772],
  [1.402, -0.714136286, 0],
];

/** [N, H, W, C] @ [C, K] -> [N, H, W, K] (a per-pixel colour matrix; a matMul, so no channel slicing). */
function perPixel(x: tf.Tensor4D, matrix: number[][]): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  return tf.reshape(tf.matMul(tf.reshape(x, [n * h * w, c]), tf.tensor2d(matrix)), [n, h, w, matrix[0].length]);
}

/**
 * Differentiable approximation of a baseline JPEG encode + decode at `quality` (libjpeg scale 1..100, fractional
 * allowed) with 4:2:0 chroma subsampling, following libjpeg(-turbo), which sharp uses (its encoder is mozjpeg in
 * baseline mode with the Annex K tables, its decoder libjpeg-turbo's):
 * RGB -> YCbCr (JFIF), edge padding of H and W to multiples of 16 (libjpeg replicates the last row and column),
 * chroma 2x2 averaging, 8x8 block DCT (a matMul with the 64x64 orthonormal DCT basis), quantisation with the IJG
 * tables scaled by libjpeg's quality formula, dequantisation, inverse DCT, range limiting of each plane, chroma
 * upsampling by linear interpolation with half-pixel centres (libjpeg's default "fancy" triangle upsampling,
 * 9/16 3/16 3/16 1/16, edges replicated; a resampling matrix, see resampleAxis), YCbCr -> RGB, crop, clamp to 0..255.
 *
 * Rounding: every place libjpeg produces integers is rounded (colour conversion, chroma averaging, quantised
 * coefficients, inverse DCT output, upsampled chroma, RGB), each with a straight-through estimator (forward round,
 * backward identity, via tf.customGrad); modelling the small roundings brought the error against sharp down by about
 * half. The gradient is therefore that of the same pipeline without rounding: a linear map, masked where clamping is
 * active. Clamping uses tf.clipByValue, whose gradient is the true one (zero where the value was clamped: a pixel the
 * decoder saturates does not respond to small changes). Not modelled: libjpeg's fixed-point DCT and colour
 * arithmetic, the alternating rounding bias of its chroma averaging and upsampling; lossless Huffman coding is
 * irrelevant. Measured mean absolute difference to sharp's decode (8-bit levels, 100x140 images): 0.2-0.8 at
 * quality 30-90, against 0.5-5.7 between the input and sharp's decode (see the unit test).
 */
export function jpegApprox(x: tf.Tensor4D, quality: number): tf.Tensor4D {
  assertImage(x, 'jpegApprox');
  const luma = scaledQuantTable(lumaQuantTable, quality);
  const chroma = scaledQuantTable(chromaQuantTable, quality);
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const ph = Math.ceil(h / 16) * 16;
    const pw = Math.ceil(w / 16) * 16;
    const padded = padEdge(x, 0, ph - h, 0, pw - w);
    // Encoder: colour conversion and chroma 2x2 averaging, each rounded to integers as libjpeg does; level shift.
    const y = tf.sub(round(perPixel(padded, rgbToY)), 128) as tf.Tensor4D;
    const cbcr = round(tf.avgPool(round(perPixel(padded, rgbToCbCr)), 2, 2, 'valid'));
    // DCT, quantisation, inverse DCT; the decoder rounds and range-limits each plane.
    const yOut = round(tf.clipByValue(quantiseBlocks(y, luma), -128, 127) as tf.Tensor4D);
    const cOut = round(tf.clipByValue(quantiseBlocks(cbcr, chroma), -128, 127) as tf.Tensor4D);
    // Decoder: fancy chroma upsampling (rounded), YCbCr -> RGB (rounded), crop, clamp.
    const up = (length: number) => cachedResampler(`up2 ${length}`, () => linearResampler(length / 2, length));
    const cUp = round(resampleAxis(resampleAxis(cOut, 1, up(ph)), 2, up(pw)));
    const rgb = round(tf.add(tf.add(yOut, 128), perPixel(cUp, cbcrToRgb)) as tf.Tensor4D);
    return tf.clipByValue(sliceAxis(sliceAxis(rgb, 1, 0, h), 2, 0, w), 0, 255) as tf.Tensor4D;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Geometry

/**
 * Downscale by `scale` (0 < scale <= 1) to round(H scale) x round(W scale) (at least 1) and back up to H x W, what a
 * site's downscale followed by the attacker's re-alignment effectively does. The downscale is area averaging (each
 * small pixel the mean of its exact footprint, the antialiasing of OpenCV's INTER_AREA / a box filter); the upscale is
 * bilinear with half-pixel centres, clamped at the edges. Geometry is exact (no half-pixel drift). Each axis is one
 * banded matrix product (see resampleAxis), so the gradient is exact on every backend. Linear in `x`.
 */
export function resizeRoundTrip(x: tf.Tensor4D, scale: number): tf.Tensor4D {
  assertImage(x, 'resizeRoundTrip');
  if (!(scale > 0 && scale <= 1)) throw new Error(`resizeRoundTrip: scale must be in (0, 1], got ${scale}`);
  const [, h, w] = x.shape;
  const sh = Math.max(1, Math.round(h * scale));
  const sw = Math.max(1, Math.round(w * scale));
  if (sh === h && sw === w) return tf.clone(x);
  return tf.tidy(() => resampleAxis(resampleAxis(x, 1, roundTripResampler(h, sh)), 2, roundTripResampler(w, sw)));
}

/**
 * Resizes [N, H, W, C] to height x width: area averaging along an axis that shrinks, bilinear (half-pixel centres)
 * along one that grows. Exact gradient on every backend (banded matrix products, see resampleAxis).
 */
export function resizeTo(x: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  assertImage(x, 'resizeTo');
  const [, h, w] = x.shape;
  const along = (length: number, out: number) =>
    cachedResampler(`to ${length} ${out}`, () => (out <= length ? areaResampler(length, out) : linearResampler(length, out)));
  return tf.tidy(() => {
    const rows = h === height ? tf.clone(x) : resampleAxis(x, 1, along(h, height));
    return w === width ? rows : resampleAxis(rows, 2, along(w, width));
  });
}

/**
 * Integer translation: output(y, x) = input(clamp(y - dy), clamp(x - dx)), i.e. the content moves dx pixels right
 * and dy down, with edge (replicate) padding filling the uncovered border. Size kept. Linear in `x`.
 */
export function shift(x: tf.Tensor4D, dx: number, dy: number): tf.Tensor4D {
  assertImage(x, 'shift');
  if (!Number.isInteger(dx) || !Number.isInteger(dy)) throw new Error(`shift: dx and dy must be integers, got ${dx}, ${dy}`);
  const [, h, w] = x.shape;
  if (Math.abs(dx) >= w || Math.abs(dy) >= h) throw new Error(`shift: (${dx}, ${dy}) is larger than the image`);
  if (dx === 0 && dy === 0) return tf.clone(x);
  return tf.tidy(() => {
    const padded = padEdge(x, Math.max(dy, 0), Math.max(-dy, 0), Math.max(dx, 0), Math.max(-dx, 0));
    return sliceAxis(sliceAxis(padded, 1, Math.max(-dy, 0), h), 2, Math.max(-dx, 0), w);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Sampling

export type TransformKind = 'identity' | 'gaussian' | 'box' | 'median' | 'jpeg' | 'resize' | 'shift';

export const transformKinds: readonly TransformKind[] = ['identity', 'gaussian', 'box', 'median', 'jpeg', 'resize', 'shift'];

/** Relative probability of each kind; equal by default. */
export const defaultTransformWeights: Readonly<Record<TransformKind, number>> = {
  identity: 1,
  gaussian: 1,
  box: 1,
  median: 1,
  jpeg: 1,
  resize: 1,
  shift: 1,
};

export interface TransformSamplerOptions {
  /** Weights merged over `defaultTransformWeights`; set a kind to 0 to never draw it. */
  weights?: Partial<Record<TransformKind, number>>;
  /** Passed to medianBlurApprox; default 0 (hard min/max). */
  medianTemperature?: number;
}

export interface SampledTransform {
  kind: TransformKind;
  /** Kind and parameters, e.g. "gaussian(sigma=1.234)"; equal names mean equal transforms. */
  name: string;
  apply(x: tf.Tensor4D): tf.Tensor4D;
}

const blurSizes = [3, 5, 7, 9] as const;

/**
 * Draws one transformation with `random` (uniform in [0, 1), e.g. createRandom(seed) from ./random.ts), so a seed
 * fixes the sequence. Parameters: gaussian sigma ~ U[0.5, 2] and resize scale ~ U[0.4, 0.9], both rounded to 3
 * decimals; box and median size uniform in {3, 5, 7, 9}; JPEG quality an integer uniform in [70, 90] (encoders take
 * integers); shift dx, dy integers uniform in [-3, 3] (clamped to the image in apply). Consumes one random number for
 * the kind, then one per parameter. Matches cloak.ts's TransformSampler: `(random) => sampleTransform(random, opts)`.
 */
export function sampleTransform(random: () => number, options: TransformSamplerOptions = {}): SampledTransform {
  const weights = { ...defaultTransformWeights, ...options.weights };
  const total = transformKinds.reduce((sum, kind) => sum + Math.max(0, weights[kind]), 0);
  if (!(total > 0)) throw new Error('sampleTransform: every weight is zero');
  let pick = random() * total;
  let kind: TransformKind = 'identity';
  for (const candidate of transformKinds) {
    const weight = Math.max(0, weights[candidate]);
    if (weight === 0) continue;
    kind = candidate;
    if (pick < weight) break;
    pick -= weight;
  }
  const index = (count: number) => Math.min(count - 1, Math.floor(random() * count));
  switch (kind) {
    case 'identity':
      return { kind, name: 'identity', apply: (x) => tf.clone(x) };
    case 'gaussian': {
      const sigma = Math.round((0.5 + 1.5 * random()) * 1000) / 1000;
      return { kind, name: `gaussian(sigma=${sigma})`, apply: (x) => gaussianBlur(x, sigma) };
    }
    case 'box': {
      const size = blurSizes[index(blurSizes.length)];
      return { kind, name: `box(${size})`, apply: (x) => boxBlur(x, size) };
    }
    case 'median': {
      const size = blurSizes[index(blurSizes.length)];
      const temperature = options.medianTemperature ?? 0;
      const name = temperature > 0 ? `median(${size},t=${temperature})` : `median(${size})`;
      return { kind, name, apply: (x) => medianBlurApprox(x, size, temperature) };
    }
    case 'jpeg': {
      const quality = 70 + index(21);
      return { kind, name: `jpeg(q=${quality})`, apply: (x) => jpegApprox(x, quality) };
    }
    case 'resize': {
      const scale = Math.round((0.4 + 0.5 * random()) * 1000) / 1000;
      return { kind, name: `resize(${scale})`, apply: (x) => resizeRoundTrip(x, scale) };
    }
    case 'shift': {
      const dx = index(7) - 3;
      const dy = index(7) - 3;
      return {
        kind,
        name: `shift(${dx},${dy})`,
        apply: (x) => {
          const [, h, w] = x.shape;
          const clamp = (v: number, size: number) => Math.max(-(size - 1), Math.min(size - 1, v));
          return shift(x, clamp(dx, w), clamp(dy, h));
        },
      };
    }
  }
}
