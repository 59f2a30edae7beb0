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
import { startBackend, startBestBackend } from '../shared/tf-backend.ts';
import { createFaceAnalyzer } from '../engine/pipeline.ts';
import { type FaceDetector, createFaceDetector } from '../engine/detect/detector.ts';
import {
  checkInputGradient,
  cosineSimilarity,
  cropAroundFace,
  timeRecognizer,
  type RecognizerTiming,
} from '../engine/diagnostics/gradient-check.ts';
import type { Point, RecognizerId } from '../engine/faces/types.ts';
import { decodeImageBrowser } from '../engine/image/decode-browser.ts';
import { ImageError, type RgbImage } from '../engine/image/types.ts';
import { readModelFileBrowser } from '../engine/models/read-browser.ts';
import { loadRecognizer } from '../engine/recognizers/zoo.ts';
import { type CloakEngine, createCloakEngine } from '../engine/cloak/engine.ts';
import { productEnsemble } from '../engine/cloak/ensemble.ts';
// The speed benchmark's timing code, shared with its Node side so both measure the same way (engine API only).
import { type CloakTiming, type TimeCloakOptions, timeCloak, warmUpCloak } from '../../bench/speed/cloak-timing.ts';

function bytesFromBase64(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The face the gradient checks run on, found once on wasm so slow backends only run the part under test. */
let preparedFace: { photo: RgbImage; landmarks: Point[] } | undefined;
/** Full input gradients by `${backend} ${recognizer}`, compared in the page (too large to send back). */
const gradients = new Map<string, Float32Array>();

async function withRecognizer<T>(backend: string, id: RecognizerId, run: (r: Awaited<ReturnType<typeof loadRecognizer>>) => Promise<T>) {
  await engineLab.setBackend(backend);
  const recognizer = await loadRecognizer(id, readModelFileBrowser);
  const before = tf.memory().numTensors;
  try {
    const result = await run(recognizer);
    if (tf.memory().numTensors !== before) throw new Error(`${id} on ${backend} leaked ${tf.memory().numTensors - before} tensors`);
    return result;
  } finally {
    recognizer.dispose();
  }
}

/** The cloak engine timed by `timeCloak`, kept between calls on the same backend (loading it takes seconds). */
let cloakEngine: { backend: string; engine: CloakEngine; detector: FaceDetector } | undefined;

function releaseCloakEngine(): void {
  cloakEngine?.engine.dispose();
  cloakEngine?.detector.dispose();
  cloakEngine = undefined;
}

async function cloakEngineOn(backend: string) {
  if (cloakEngine?.backend !== backend) releaseCloakEngine();
  await engineLab.setBackend(backend);
  if (!cloakEngine) {
    const engine = await createCloakEngine(readModelFileBrowser, { ensemble: productEnsemble });
    try {
      cloakEngine = { backend, engine, detector: await createFaceDetector(readModelFileBrowser) };
    } catch (error) {
      engine.dispose();
      throw error;
    }
  }
  return cloakEngine;
}

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

  /** Decodes image bytes with the browser decoder; errors come back as values so tests can assert on the code. */
  async decode(base64: string) {
    try {
      const image = await decodeImageBrowser(bytesFromBase64(base64));
      let sum = 0;
      for (let i = 0; i < image.data.length; i += 97) sum += image.data[i];
      const pixel = (x: number, y: number) => Array.from(image.data.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3));
      return {
        ok: true as const,
        width: image.width,
        height: image.height,
        format: image.format,
        orientation: image.orientation,
        firstFrameOnly: image.firstFrameOnly,
        hasAlpha: image.alpha !== undefined,
        topLeft: pixel(0, 0),
        sampleSum: sum,
      };
    } catch (error) {
      if (error instanceof ImageError) return { ok: false as const, code: error.code, message: error.message };
      throw error;
    }
  },

  /**
   * The whole face pipeline on the backend the product would pick here: decode, detect, align, embed with every
   * recognizer. Returns what was found and how long each part took (the demo prints it).
   */
  async analyze(base64: string) {
    const backend = await startBestBackend();
    let started = performance.now();
    const image = await decodeImageBrowser(bytesFromBase64(base64));
    const decodeMs = performance.now() - started;
    started = performance.now();
    const analyzer = await createFaceAnalyzer(readModelFileBrowser);
    const loadMs = performance.now() - started;
    try {
      started = performance.now();
      const faces = await analyzer.analyze(image);
      const analyzeMs = performance.now() - started;
      return {
        backend,
        width: image.width,
        height: image.height,
        decodeMs,
        loadMs,
        analyzeMs,
        faces: faces.map((face) => ({
          box: face.box,
          score: face.score,
          embeddings: Object.fromEntries(Object.entries(face.embeddings).map(([id, e]) => [id, Array.from(e!)])),
        })),
      };
    } finally {
      analyzer.dispose();
    }
  },

  /** Decodes a photo and finds its largest face on wasm; later checks use the region around it. */
  async prepareFace(base64: string): Promise<{ width: number; height: number; faces: number }> {
    await engineLab.setBackend('wasm');
    const image = await decodeImageBrowser(bytesFromBase64(base64));
    const detector = await createFaceDetector(readModelFileBrowser);
    try {
      const faces = await detector.detect(image);
      if (faces.length === 0) throw new Error('no face in the photo given to prepareFace');
      preparedFace = cropAroundFace(image, faces[0]);
      return { width: preparedFace.photo.width, height: preparedFace.photo.height, faces: faces.length };
    } finally {
      detector.dispose();
    }
  },

  /** Analytic input gradient vs finite differences for one recognizer on one backend (prepareFace first). */
  async gradientCheck(backend: string, id: RecognizerId, steps?: number[]) {
    const face = preparedFace;
    if (!face) throw new Error('call prepareFace first');
    return withRecognizer(backend, id, async (recognizer) => {
      const check = await checkInputGradient(recognizer, face.photo, face.landmarks, { steps });
      gradients.set(`${backend} ${id}`, check.gradient);
      return {
        backend: tf.getBackend(),
        analytic: check.analytic,
        numeric: check.numeric,
        relativeError: check.relativeError,
        gradientMs: check.gradientMs,
        nonZero: check.gradient.some((value) => value !== 0),
      };
    });
  },

  /** Cosine similarity of the full input gradients two backends computed for one recognizer. */
  compareGradients(id: RecognizerId, backendA: string, backendB: string): number {
    const a = gradients.get(`${backendA} ${id}`);
    const b = gradients.get(`${backendB} ${id}`);
    if (!a || !b) throw new Error(`no gradient for ${id} on ${a ? backendB : backendA}`);
    return cosineSimilarity(a, b);
  },

  /** Median forward and input-gradient time of one recognizer on one backend (batch of one aligned face). */
  async timeRecognizer(backend: string, id: RecognizerId, repeats = 3): Promise<RecognizerTiming> {
    return withRecognizer(backend, id, (recognizer) => timeRecognizer(recognizer, repeats));
  },

  /**
   * Times the shipped cloak (product ensemble) on one photo on one backend, for bench/speed: detection, setup and
   * per-step time per face, total. The engine is created once per backend and kept for the next call. `maxSteps`
   * makes it a reduced run (first face stopped after that many steps, the rest extrapolated); `warmUp` first runs
   * untimed (one step before a full run, detection and setup before a reduced one) so shader compilation is not
   * counted. Returns timings only, never pixels.
   */
  async timeCloak(
    backend: string,
    base64: string,
    options: { strength: TimeCloakOptions['strength']; seed?: number; maxSteps?: number; warmUp?: boolean },
  ): Promise<CloakTiming & { backend: string }> {
    const { engine, detector } = await cloakEngineOn(backend);
    const image = await decodeImageBrowser(bytesFromBase64(base64));
    const timeOptions: TimeCloakOptions = {
      strength: options.strength,
      seed: options.seed,
      maxSteps: options.maxSteps,
      detect: (photo) => detector.detect(photo),
    };
    if (options.warmUp) await warmUpCloak(engine, image, timeOptions, options.maxSteps === undefined ? 1 : 0);
    return { backend: tf.getBackend(), ...(await timeCloak(engine, image, timeOptions)) };
  },

  /** Frees the engine `timeCloak` keeps (its weights live on the backend it was made for). */
  releaseCloakEngine(): void {
    releaseCloakEngine();
  },
};

export type EngineLab = typeof engineLab;

declare global {
  interface Window {
    engineLab?: EngineLab;
  }
}

window.engineLab = engineLab;
