/**
 * The order the extension tries tfjs backends in. Pure code (types only from the engine) so Node tests can check it.
 */
import type { BackendName } from '../engine/backends/backends.ts';

/** Whether each GPU backend would run on a software rasteriser (SwiftShader, llvmpipe) instead of a real GPU. */
export interface SoftwareGpu {
  webgpu: boolean;
  webgl: boolean;
}

/**
 * WebGPU, WebGL, WASM, CPU, except that a GPU backend on a software rasteriser goes after WASM. A software "GPU" is
 * the slowest choice there is: on SwiftShader a face-recognition gradient took ~4.5 s on WebGL and longer on WebGPU,
 * against ~0.45 s on WASM (../shared/BROWSER-FACTS.md). Software WebGL stays ahead of CPU (faster on the depthwise
 * models); software WebGPU, the slowest of all, comes last.
 */
export function backendOrder(software: SoftwareGpu): BackendName[] {
  const order: BackendName[] = [];
  if (!software.webgpu) order.push('webgpu');
  if (!software.webgl) order.push('webgl');
  order.push('wasm');
  if (software.webgl) order.push('webgl');
  order.push('cpu');
  if (software.webgpu) order.push('webgpu');
  return order;
}
