import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backendOrder } from '../../../src/shared/backend-order.ts';

test('real GPUs first: WebGPU, WebGL, WASM, CPU', () => {
  assert.deepEqual(backendOrder({ webgpu: false, webgl: false }), ['webgpu', 'webgl', 'wasm', 'cpu']);
});

test('software GPUs go after WASM; software WebGPU last of all', () => {
  assert.deepEqual(backendOrder({ webgpu: true, webgl: true }), ['wasm', 'webgl', 'cpu', 'webgpu']);
  assert.deepEqual(backendOrder({ webgpu: true, webgl: false }), ['webgl', 'wasm', 'cpu', 'webgpu']);
  assert.deepEqual(backendOrder({ webgpu: false, webgl: true }), ['webgpu', 'wasm', 'webgl', 'cpu']);
});
