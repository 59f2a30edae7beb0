/**
 * engine-lab.html: an extension page where browser tests run engine code on every tfjs backend, inside the real
 * extension (same CSP, same packaged wasm and models as the offscreen document). Tests call the functions of
 * `window.engineLab` through `runInEngineLab` (test/browser/harness.ts). Arguments and results cross the
 * Playwright boundary as JSON-like values.
 *
 * Engine code: add gradient checks, timings and the like as further members of `engineLab`.
 */
import * as tf from '@tensorflow/tfjs';
import { backendPreference, type BackendName } from '../engine/backends/backends.ts';
import { startBackend } from '../shared/tf-backend.ts';

const engineLab = {
  /** The backends this build can run, in the engine's order of preference. */
  backends(): string[] {
    return backendPreference.filter((name) => tf.findBackendFactory(name) !== null);
  },

  /**
   * Switches tfjs to `name` and returns the backend now in use, once it has computed a small sum correctly (a
   * backend can initialise and still compute garbage). Throws when it cannot start or computes wrongly.
   */
  async setBackend(name: string): Promise<string> {
    if (!(backendPreference as readonly string[]).includes(name)) throw new Error(`unknown backend "${name}"`);
    await startBackend(name as BackendName);
    const sum = tf.tidy(() => tf.sum(tf.square(tf.tensor1d([1, 2, 3]))));
    const [value] = await sum.data();
    sum.dispose();
    if (value !== 14) throw new Error(`backend ${tf.getBackend()} computed 1² + 2² + 3² = ${value}`);
    return tf.getBackend();
  },
};

export type EngineLab = typeof engineLab;

declare global {
  interface Window {
    engineLab?: EngineLab;
  }
}

window.engineLab = engineLab;
