/**
 * Backend selection, shared by Node and the extension. Order of preference in the browser is
 * WebGPU -> WebGL -> WASM -> CPU; in Node only wasm and cpu exist (tfjs-node cannot be installed here).
 * WebGPU is registered by importing `./webgpu.ts`, which only browser bundles do.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradientKernels } from './wasm-gradient-kernels.ts';

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
export const backendPreference: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

export interface BackendOptions {
  /** Folder (URL or path prefix ending in '/') holding tfjs-backend-wasm's .wasm files; default: tfjs's own. */
  wasmPaths?: string;
}

let configured = false;

function configureOnce(options: BackendOptions): void {
  if (configured) return;
  configured = true;
  // The threaded wasm build needs cross-origin isolation; in an offscreen document SharedArrayBuffer exists
  // without it and setBackend('wasm') never resolves (BROWSER-FACTS.md). Threads gave no speed-up on 2 cores.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  if (options.wasmPaths) setWasmPaths(options.wasmPaths);
  registerWasmGradientKernels();
}

/**
 * Switches to the first backend in `preference` that initialises here and returns its name.
 * Throws when none does, naming each failure.
 */
export async function useBackend(
  preference: readonly BackendName[] = backendPreference,
  options: BackendOptions = {},
): Promise<BackendName> {
  configureOnce(options);
  const failures: string[] = [];
  for (const name of preference) {
    if (!tf.findBackendFactory(name)) {
      failures.push(`${name}: not available here`);
      continue;
    }
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        return name;
      }
      failures.push(`${name}: failed to initialise`);
    } catch (error) {
      failures.push(`${name}: ${(error as Error).message}`);
    }
  }
  throw new Error(`No TensorFlow.js backend could start (${failures.join('; ')})`);
}
