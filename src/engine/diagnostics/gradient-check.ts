/**
 * Checks of the differentiable path (alignment + recognizer) that run the same way in Node and in the browser:
 * the Node tests, the engine-lab page (webgl, webgpu) and the zoo benchmark all call these.
 */
import * as tf from '@tensorflow/tfjs';
import { alignmentFor, warpFaces } from '../align/align.ts';
import type { DetectedFace, Point } from '../faces/types.ts';
import { cropRgb } from '../image/pixels.ts';
import type { RgbImage } from '../image/types.ts';
import type { Recognizer } from '../recognizers/recognizer.ts';

/** The photo around one face with a margin, and its landmarks moved along: keeps checks cheap on slow backends. */
export function cropAroundFace(image: RgbImage, face: DetectedFace, margin = 0.4): { photo: RgbImage; landmarks: Point[] } {
  const pad = face.box.width * margin;
  const box = {
    x: Math.max(0, Math.round(face.box.x - pad)),
    y: Math.max(0, Math.round(face.box.y - pad)),
    width: Math.round(face.box.width + 2 * pad),
    height: Math.round(face.box.height + 2 * pad),
  };
  return { photo: cropRgb(image, box), landmarks: face.landmarks.map((p) => ({ x: p.x - box.x, y: p.y - box.y })) };
}

export interface GradientCheck {
  /** <grad L, d> for L(x) = <embed(warp(x)), v> and a random ±1 direction d. */
  analytic: number;
  /** Central differences (L(x + h d) - L(x - h d)) / 2h, one per step h. */
  numeric: number[];
  steps: number[];
  /**
   * Smallest difference between `analytic` and any of `numeric`, relative to the larger of that numeric value and the
   * gradient's L2 norm (the typical size of a random +-1 directional derivative).
   */
  relativeError: number;
  /** The full input gradient, for comparing backends. */
  gradient: Float32Array;
  gradientMs: number;
}

/**
 * The models clip activations (ReLU, min/max), so large steps cross kinks and bias the difference (h = 0.5 grey
 * levels was off by 10-35 % on faceres while cpu and wasm gradients agreed to 1e-5); small steps converge. Several
 * steps are taken and the closest must agree: a wrong gradient (a kernel bug, a missing term) is far from all.
 * The error is measured against the gradient's norm when the direction happens to be nearly orthogonal to the
 * gradient: there the kinks dominate a tiny derivative (faceapi-resnet on a face of sample1.jpg: derivative 1.4e-3
 * against a gradient norm of 8.6e-3, differences 0.3e-3 at h = 0.1 converging to 1.3e-3 at h = 0.005, while two other
 * directions agreed within 1 % and cpu and wasm gradients agree to 1e-4 in cosine).
 */
export const defaultSteps = [0.1, 0.05, 0.02, 0.01, 0.005];

export async function checkInputGradient(
  recognizer: Recognizer,
  photo: RgbImage,
  landmarks: readonly Point[],
  options: { steps?: number[]; seed?: number } = {},
): Promise<GradientCheck> {
  const steps = options.steps ?? defaultSteps;
  const seed = options.seed ?? 7;
  const alignment = alignmentFor(landmarks, recognizer.inputSize, recognizer.cropScale);
  const x = tf.tensor3d(photo.data, [photo.height, photo.width, 3], 'float32');
  const v = tf.randomNormal([1, recognizer.entry.embedding!.dim], 0, 1, 'float32', seed);
  const d = tf.tidy(() => tf.sub(tf.mul(tf.cast(tf.greater(tf.randomUniform(x.shape, 0, 1, 'float32', seed + 4), 0.5), 'float32'), 2), 1));
  const loss = (input: tf.Tensor) => tf.sum(tf.mul(recognizer.embed(warpFaces(input as tf.Tensor3D, [alignment])), v));
  try {
    const started = performance.now();
    const full = tf.grad(loss)(x);
    const gradient = (await full.data()) as Float32Array;
    const gradientMs = performance.now() - started;
    const directional = tf.tidy(() => tf.sum(tf.mul(full, d)));
    const [analytic] = await directional.data();
    tf.dispose([full, directional]);
    const numeric: number[] = [];
    for (const h of steps) {
      const difference = tf.tidy(() => tf.div(tf.sub(loss(tf.add(x, tf.mul(d, h))), loss(tf.sub(x, tf.mul(d, h)))), 2 * h));
      numeric.push((await difference.data())[0]);
      difference.dispose();
    }
    const norm = Math.sqrt(gradient.reduce((sum, g) => sum + g * g, 0));
    const relativeError = Math.min(...numeric.map((n) => Math.abs(analytic - n) / Math.max(Math.abs(n), norm, 1e-6)));
    return { analytic, numeric, steps, relativeError, gradient, gradientMs };
  } finally {
    tf.dispose([x, v, d]);
  }
}

export { cosineSimilarity } from '../faces/similarity.ts';

export interface RecognizerTiming {
  /** Median ms of one forward pass on a batch of one aligned face (data read back). */
  forwardMs: number;
  /** Median ms of one input gradient of the same. */
  gradientMs: number;
  /** The first forward pass: shader compilation and weight upload on GPU backends. */
  firstForwardMs: number;
}

export async function timeRecognizer(recognizer: Recognizer, repeats = 5): Promise<RecognizerTiming> {
  const size = recognizer.inputSize;
  const faces = tf.randomUniform([1, size, size, 3], 0, 255, 'float32', 1) as tf.Tensor4D;
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const once = async (compute: () => tf.Tensor) => {
    const started = performance.now();
    const out = compute();
    await out.data();
    out.dispose();
    return performance.now() - started;
  };
  try {
    const firstForwardMs = await once(() => recognizer.embed(faces));
    await once(() => tf.grad((x: tf.Tensor) => tf.sum(recognizer.embed(x as tf.Tensor4D)))(faces)); // warm-up
    const forward: number[] = [];
    const gradient: number[] = [];
    for (let i = 0; i < repeats; i++) {
      forward.push(await once(() => recognizer.embed(faces)));
      gradient.push(await once(() => tf.grad((x: tf.Tensor) => tf.sum(recognizer.embed(x as tf.Tensor4D)))(faces)));
    }
    return { forwardMs: median(forward), gradientMs: median(gradient), firstForwardMs };
  } finally {
    faces.dispose();
  }
}
