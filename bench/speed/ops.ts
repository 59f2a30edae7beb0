/**
 * Operation counts from tfjs's profiler: every kernel a computation runs, with its input and output shapes, turned
 * into multiply-accumulates for the kernels that carry the arithmetic (convolutions, depthwise convolutions, their
 * input- and filter-gradient kernels, matrix products). Everything else (elementwise ops, the alignment's gather,
 * pooling, resizes) is counted as kernels dispatched and output elements, not as MACs: it is memory-bound and
 * its cost on a GPU is dominated by per-dispatch overhead, which the estimate charges separately.
 *
 * Counted on the backend that is running (wasm here); the kernel list is the same on every backend, since kernel
 * choice happens above the backend.
 */
import * as tf from '@tensorflow/tfjs';

export interface KernelTally {
  count: number;
  macs: number;
  ms: number;
}

export interface OpCount {
  /** Multiply-accumulates in the arithmetic kernels (FLOPs = 2 x MACs). */
  macs: number;
  /** Kernels dispatched in all (one GPU dispatch or more each). */
  kernels: number;
  /** Elements written by the kernels that are not counted as MACs. */
  otherElements: number;
  /** Kernel time as the profiler saw it on this backend (ms); wasm kernels are synchronous, so it is real. */
  kernelMs: number;
  byKernel: Record<string, KernelTally>;
}

type Profile = Awaited<ReturnType<typeof tf.profile>>;
type Kernel = Profile['kernels'][number];

const size = (shape: readonly number[] | null | undefined) => (shape ?? []).reduce((a, b) => a * b, 1);

/** MACs of one kernel invocation, or undefined when it is not an arithmetic kernel. */
export function kernelMacs(kernel: Pick<Kernel, 'name' | 'inputShapes' | 'outputShapes'>): number | undefined {
  const [first, second] = kernel.inputShapes;
  const out = kernel.outputShapes[0];
  switch (kernel.name) {
    case 'Conv2D':
    case 'FusedConv2D': {
      const [kh, kw, cin] = second; // filter [kh, kw, in, out]; output [N, H, W, out]
      return size(out) * kh * kw * cin;
    }
    case 'Conv2DBackpropInput': {
      const [kh, kw, cin] = second; // inputs {dy, filter}: every dy element scatters into kh x kw x in
      return size(first) * kh * kw * cin;
    }
    case 'Conv2DBackpropFilter': {
      const [kh, kw, cin] = out; // inputs {x, dy}, output the filter's shape
      return size(second) * kh * kw * cin;
    }
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2D': {
      const [kh, kw] = second; // filter [kh, kw, in, multiplier]
      return size(out) * kh * kw;
    }
    case 'DepthwiseConv2dNativeBackpropInput': {
      const [kh, kw] = second;
      return size(first) * kh * kw;
    }
    case 'DepthwiseConv2dNativeBackpropFilter': {
      const [kh, kw] = out;
      return size(second) * kh * kw;
    }
    case 'BatchMatMul':
    case '_FusedMatMul': {
      // a [..., M, K], b [..., K, N] (either may be transposed, which the profile does not say): the inner size
      // follows from the element counts. Batch dims may broadcast, so divide by the smaller batch.
      const batchA = size(first.slice(0, -2));
      const batchB = size(second.slice(0, -2));
      const inner = Math.sqrt((size(first) * size(second)) / (size(out) * Math.min(batchA, batchB)));
      return size(out) * Math.round(inner);
    }
    default:
      return undefined;
  }
}

export function tallyKernels(kernels: readonly Kernel[]): OpCount {
  const count: OpCount = { macs: 0, kernels: 0, otherElements: 0, kernelMs: 0, byKernel: {} };
  for (const kernel of kernels) {
    const macs = kernelMacs(kernel);
    const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    const tally = (count.byKernel[kernel.name] ??= { count: 0, macs: 0, ms: 0 });
    tally.count++;
    tally.ms += ms;
    count.kernels++;
    count.kernelMs += ms;
    if (macs === undefined) {
      count.otherElements += size(kernel.outputShapes[0]);
    } else {
      tally.macs += macs;
      count.macs += macs;
    }
  }
  return count;
}

/** Runs `query` under tfjs's profiler and tallies what it ran. */
export async function countOps(query: () => Promise<unknown> | unknown): Promise<OpCount> {
  const profile = await tf.profile(async () => {
    await query();
  });
  return tallyKernels(profile.kernels);
}

/** a - b, per field (for "per step" = (K steps - 0 steps) / K). */
export function subtractOps(a: OpCount, b: OpCount, divideBy = 1): OpCount {
  const byKernel: Record<string, KernelTally> = {};
  for (const name of new Set([...Object.keys(a.byKernel), ...Object.keys(b.byKernel)])) {
    const x = a.byKernel[name] ?? { count: 0, macs: 0, ms: 0 };
    const y = b.byKernel[name] ?? { count: 0, macs: 0, ms: 0 };
    byKernel[name] = { count: (x.count - y.count) / divideBy, macs: (x.macs - y.macs) / divideBy, ms: (x.ms - y.ms) / divideBy };
  }
  return {
    macs: (a.macs - b.macs) / divideBy,
    kernels: (a.kernels - b.kernels) / divideBy,
    otherElements: (a.otherElements - b.otherElements) / divideBy,
    kernelMs: (a.kernelMs - b.kernelMs) / divideBy,
    byKernel,
  };
}
