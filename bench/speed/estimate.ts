/**
 * A laptop-GPU estimate of the cloak's time from operation counts (no laptop GPU is available to time it):
 *
 *   time = 2 x MACs / sustained FLOP/s  +  kernels dispatched x overhead per dispatch
 *
 * Assumptions, stated in the report next to the numbers:
 * - Sustained fp32 throughput of tfjs's WebGPU backend on convolutions. Peak fp32 of laptop GPUs: Intel Iris Xe
 *   (96 EU) about 2.2 TFLOPS, Apple M1 (8-core GPU) 2.6, AMD Radeon 780M about 4 (8.6 dual-issue), an entry
 *   discrete NVIDIA RTX 3050 Laptop 5-9 (vendor specifications). In-browser GPU inference runs on average 4.9x
 *   slower than native on the same PCs (Wang et al., "Anatomizing Deep Learning Inference in Web Browsers", ACM
 *   TOSEM 2025, arXiv:2402.05981; 50 PCs, TF.js and ONNX Runtime Web), and native frameworks sustain roughly half of
 *   peak on convolutions of this size. Hence 0.5 TFLOPS for an integrated GPU (pessimistic), 1 TFLOPS central, and
 *   2 TFLOPS for a discrete laptop GPU.
 * - Per-dispatch overhead (command encoding, bind groups, submission; tfjs-webgpu batches dispatches into one
 *   command buffer): 20 us per kernel. The batch-1 backward passes of these recognizers run hundreds of small
 *   kernels, so this term is not negligible next to the arithmetic.
 * - Shader compilation (seconds, once per session) and reading the result back are left out.
 */
import type { OpCount } from './ops.ts';

export interface GpuAssumption {
  name: string;
  /** Sustained fp32 TFLOPS under WebGPU. */
  tflops: number;
  /** Overhead per kernel dispatch, microseconds. */
  dispatchUs: number;
}

export const laptopGpuAssumptions: readonly GpuAssumption[] = [
  { name: 'integrated (0.5 TFLOPS)', tflops: 0.5, dispatchUs: 20 },
  { name: 'central (1 TFLOPS)', tflops: 1, dispatchUs: 20 },
  { name: 'discrete laptop (2 TFLOPS)', tflops: 2, dispatchUs: 20 },
];

export function estimateSeconds(work: { macs: number; kernels: number }, gpu: GpuAssumption): number {
  return (2 * work.macs) / (gpu.tflops * 1e12) + (work.kernels * gpu.dispatchUs) / 1e6;
}

/** Work of one face at a strength: setup once, then `steps` steps. */
export function faceWork(setup: Pick<OpCount, 'macs' | 'kernels'>, step: Pick<OpCount, 'macs' | 'kernels'>, steps: number) {
  return { macs: setup.macs + steps * step.macs, kernels: setup.kernels + steps * step.kernels };
}
