/**
 * Backward kernels the tfjs wasm backend (4.22) does not ship, registered so that input gradients work on wasm:
 * - DepthwiseConv2dNativeBackpropInput: the input gradient of every depthwise convolution (human faceres,
 *   mobileface), without which `tf.grad` on those models throws "Kernel ... not registered for backend wasm".
 *   It runs through the forward depthwise kernel (wasm-conv-backprop.ts); the JS loop below takes the geometries
 *   that cannot (channel multiplier > 1, dilation).
 * - UnsortedSegmentSum: the gradient of `gather`, which the differentiable face alignment uses.
 * - Conv2DBackpropFilter / DepthwiseConv2dNativeBackpropFilter: only asked for when a fused op's custom gradient
 *   computes filter gradients; `unfuseGraph` (models/graph-unfuse.ts) removes that need for our models, and these are
 *   here so that any remaining fused op still differentiates instead of throwing.
 *
 * They are plain JS loops over the wasm heap. They are checked against the cpu backend and against finite
 * differences in test/unit/engine/wasm-gradient-kernels.test.ts.
 * Conv2DBackpropInput is shipped but slow; it is replaced as well (see registerWasmGradientKernels).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { conv2dBackpropInputViaForward, depthwiseBackpropInputViaForward, identitySharingBuffer } from './wasm-conv-backprop.ts';

type KernelArgs = {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
};

function convInfoFor(
  xShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
  depthwise: boolean,
): tf.backend_util.Conv2DInfo {
  const strides = attrs.strides as [number, number] | number;
  const pad = attrs.pad as 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  const dilations = (attrs.dilations ?? 1) as [number, number] | number;
  const dimRoundingMode = attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined;
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    depthwise,
  );
}

/**
 * Visits every (input pixel, filter tap, output pixel) triple of a 2-D convolution, NHWC, calling `visit` with flat
 * offsets of the input pixel's channel 0, the output pixel's channel 0 and the filter tap's [kh, kw, 0, 0]
 * (`tapStride` floats per tap: outChannels for a depthwise filter, in * out for a full one).
 * The backward kernels below differ only in what they accumulate.
 */
function forEachTap(
  info: tf.backend_util.Conv2DInfo,
  tapStride: number,
  visit: (xBase: number, yBase: number, wBase: number) => void,
) {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      for (let kh = 0; kh < filterHeight; kh++) {
        const iy = oy * strideHeight + kh * dilationHeight - top;
        if (iy < 0 || iy >= inHeight) continue;
        for (let ox = 0; ox < outWidth; ox++) {
          const yBase = ((b * outHeight + oy) * outWidth + ox) * outChannels;
          for (let kw = 0; kw < filterWidth; kw++) {
            const ix = ox * strideWidth + kw * dilationWidth - left;
            if (ix < 0 || ix >= inWidth) continue;
            const xBase = ((b * inHeight + iy) * inWidth + ix) * inChannels;
            const wBase = (kh * filterWidth + kw) * tapStride;
            visit(xBase, yBase, wBase);
          }
        }
      }
    }
  }
}

function depthwiseBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const info = convInfoFor(attrs!.inputShape as number[], filter.shape, attrs!, true);
  const out = wasm.makeOutput(info.inShape, 'float32');
  // Views are taken after makeOutput: allocating can grow (and so detach) the wasm heap.
  const dx = wasm.typedArrayFromHeap(out) as Float32Array;
  const dyData = wasm.typedArrayFromHeap(dy) as Float32Array;
  const w = wasm.typedArrayFromHeap(filter) as Float32Array;
  dx.fill(0);
  const channels = info.inChannels;
  const multiplier = info.outChannels / channels; // filter [kh, kw, channels, multiplier]
  forEachTap(info, info.outChannels, (xBase, yBase, wBase) => {
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      for (let m = 0; m < multiplier; m++) sum += dyData[yBase + c * multiplier + m] * w[wBase + c * multiplier + m];
      dx[xBase + c] += sum;
    }
  });
  return out;
}

/** Shared start of the filter-gradient kernels: the zeroed output dW and views of x and dy on the wasm heap. */
function filterGradient({ inputs, backend, attrs }: KernelArgs, depthwise: boolean) {
  const wasm = backend as BackendWasm;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const filterShape = attrs!.filterShape as number[];
  const info = convInfoFor(x.shape, filterShape, attrs!, depthwise);
  const out = wasm.makeOutput(filterShape, 'float32');
  // Views are taken after makeOutput: allocating can grow (and so detach) the wasm heap.
  const dw = wasm.typedArrayFromHeap(out) as Float32Array;
  dw.fill(0);
  return { info, out, dw, xData: wasm.typedArrayFromHeap(x) as Float32Array, dyData: wasm.typedArrayFromHeap(dy) as Float32Array };
}

function depthwiseBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const { info, out, dw, xData, dyData } = filterGradient(args, true);
  const channels = info.inChannels;
  const multiplier = info.outChannels / channels;
  forEachTap(info, info.outChannels, (xBase, yBase, wBase) => {
    for (let c = 0; c < channels; c++) {
      const xv = xData[xBase + c];
      for (let m = 0; m < multiplier; m++) dw[wBase + c * multiplier + m] += xv * dyData[yBase + c * multiplier + m];
    }
  });
  return out;
}

function conv2dBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const { info, out, dw, xData, dyData } = filterGradient(args, false);
  const inChannels = info.inChannels;
  const outChannels = info.outChannels;
  forEachTap(info, inChannels * outChannels, (xBase, yBase, wBase) => {
    for (let ci = 0; ci < inChannels; ci++) {
      const xv = xData[xBase + ci];
      if (xv === 0) continue;
      const row = wBase + ci * outChannels;
      for (let co = 0; co < outChannels; co++) dw[row + co] += xv * dyData[yBase + co];
    }
  });
  return out;
}

function unsortedSegmentSum({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = attrs!.numSegments as number;
  const inner = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
  const out = wasm.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], 'float32');
  const sums = wasm.typedArrayFromHeap(out) as Float32Array;
  const values = wasm.typedArrayFromHeap(x) as Float32Array;
  const ids = wasm.typedArrayFromHeap(segmentIds) as Int32Array;
  sums.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id < 0 || id >= numSegments) continue; // TensorFlow drops out-of-range ids
    const from = i * inner;
    const to = id * inner;
    for (let j = 0; j < inner; j++) sums[to + j] += values[from + j];
  }
  return out;
}

const kernels: Array<[string, (args: KernelArgs) => tf.TensorInfo]> = [
  [tf.DepthwiseConv2dNativeBackpropInput, depthwiseBackpropInputViaForward(depthwiseBackpropInput)],
  [tf.DepthwiseConv2dNativeBackpropFilter, depthwiseBackpropFilter],
  [tf.Conv2DBackpropFilter, conv2dBackpropFilter],
  [tf.UnsortedSegmentSum, unsortedSegmentSum],
];

let replacedNativeKernels = false;

/** Re-registers a native wasm kernel with a replacement that receives the native one (its fallback). */
function replaceNative(kernelName: string, replacement: (native: (args: KernelArgs) => tf.TensorInfo) => (args: KernelArgs) => tf.TensorInfo) {
  const native = tf.getKernel(kernelName, 'wasm');
  if (!native) return;
  tf.unregisterKernel(kernelName, 'wasm');
  const fallback = native.kernelFunc as unknown as (args: KernelArgs) => tf.TensorInfo;
  tf.registerKernel({ ...native, kernelFunc: replacement(fallback) as unknown as tf.KernelFunc });
}

/**
 * Registers the missing backward kernels for the wasm backend, and replaces two native ones (wasm-conv-backprop.ts):
 * Conv2DBackpropInput with one built on the XNNPACK forward Conv2D, keeping the native one as its fallback, and
 * Identity with one that shares buffers instead of copying them. Idempotent; call it before the wasm backend
 * initialises, so that the native kernels' setup (binding their C++ functions) runs.
 */
export function registerWasmGradientKernels(): void {
  for (const [kernelName, kernelFunc] of kernels) {
    if (tf.getKernel(kernelName, 'wasm')) continue;
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
  if (replacedNativeKernels) return;
  replacedNativeKernels = true;
  replaceNative(tf.Conv2DBackpropInput, conv2dBackpropInputViaForward);
  replaceNative(tf.Identity, identitySharingBuffer);
}
