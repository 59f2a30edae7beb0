/**
 * Starts tfjs in an extension document (offscreen document, engine-lab) on the best backend this machine has.
 * The mechanics (flags, wasm kernels, trying each backend) are the engine's `useBackend`; this file adds what is
 * specific to the extension: the packaged wasm binaries and an order that knows about software "GPUs".
 * Not for the service worker: it has no DOM and cannot run tfjs.
 */
import '../engine/backends/webgpu.ts';
import { type BackendName, type BackendOptions, useBackend } from '../engine/backends/backends.ts';
import { type SoftwareGpu, backendOrder } from './backend-order.ts';

/** build.mjs copies tfjs-backend-wasm's binaries to /wasm/ in the extension: nothing is fetched from the network. */
const extensionBackendOptions = (): BackendOptions => ({ wasmPaths: chrome.runtime.getURL('wasm/') });

/** Switches tfjs to the first backend of `backendOrder` that starts here. */
export async function startBestBackend(): Promise<BackendName> {
  return useBackend(backendOrder(await detectSoftwareGpu()), extensionBackendOptions());
}

/** Switches tfjs to exactly `name`; throws when it cannot start here. */
export async function startBackend(name: BackendName): Promise<BackendName> {
  return useBackend([name], extensionBackendOptions());
}

const SOFTWARE_RENDERER = /swiftshader|llvmpipe|softpipe|software|basic render/i;

async function detectSoftwareGpu(): Promise<SoftwareGpu> {
  return { webgpu: await isSoftwareWebGpu(), webgl: isSoftwareWebGl() };
}

interface GpuAdapterLike {
  isFallbackAdapter?: boolean;
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
}

async function isSoftwareWebGpu(): Promise<boolean> {
  // Typed loosely on purpose: `adapter.info` (Chrome 121+) replaced `requestAdapterInfo()`; the typings lag behind.
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false; // No WebGPU at all: its backend fails quickly by itself.
  try {
    const adapter = (await gpu.requestAdapter()) as GpuAdapterLike | null;
    if (!adapter) return false;
    const info = adapter.info ?? {};
    const fallback = info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
    return fallback || SOFTWARE_RENDERER.test(`${info.vendor} ${info.architecture} ${info.description}`);
  } catch {
    return false;
  }
}

function isSoftwareWebGl(): boolean {
  const canvas = document.createElement('canvas');
  const gl = canvas.getContext('webgl2') ?? canvas.getContext('webgl');
  if (!gl) return false;
  try {
    const debug = gl.getExtension('WEBGL_debug_renderer_info');
    return SOFTWARE_RENDERER.test(String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER)));
  } finally {
    gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}
