/**
 * The cloak: given a photo, the same photo with every face perturbed so that face recognizers no longer match it to
 * the clean face, after the blur, JPEG and resizing that sites and trackers apply.
 *
 * Per face (LowKey's objective, Fawkes's budget idea):
 *   minimise  mean over ensemble recognizers r of  cos(embed_r(align_r(T(x + m * delta))), embed_r(align_r(x)))
 *   subject to |delta| <= epsilon (L-inf, 8-bit levels), pixels outside the face region unchanged,
 * where x is the full-resolution region around the face, m a feathered mask, align_r the differentiable alignment
 * of the clean photo's landmarks onto r's crop (the perturbation lives in the photo, not in a 112-px crop), and T a
 * random transformation drawn every step (expectation over transformations, transforms.ts) plus a jittered alignment.
 * Optimiser: sign-of-momentum gradient steps (MI-FGSM) from a small random start (the loss has zero gradient at the
 * clean photo), keeping the best iterate by the loss without transformation.
 */
import * as tf from '@tensorflow/tfjs';
import { alignmentFor, warpFaces, type FaceAlignment } from '../align/align.ts';
import type { DetectedFace, RecognizerId } from '../faces/types.ts';
import type { RgbImage } from '../image/types.ts';
import type { Recognizer } from '../recognizers/recognizer.ts';
import { createRandom } from './random.ts';

export type Strength = 'low' | 'mid' | 'high';

/** L-inf budget in 8-bit levels and optimisation steps per strength. */
export const strengthSettings: Record<Strength, { epsilon: number; steps: number }> = {
  low: { epsilon: 4, steps: 12 },
  mid: { epsilon: 8, steps: 16 },
  high: { epsilon: 12, steps: 20 },
};

/** A random transformation applied every step; identity when absent. */
export interface TransformSampler {
  (random: () => number): { name: string; apply(x: tf.Tensor4D): tf.Tensor4D };
}

export interface FaceCloakOptions {
  epsilon: number;
  steps: number;
  seed: number;
  sampleTransform?: TransformSampler;
  signal?: AbortSignal;
  onStep?: (step: number, loss: number) => void;
}

export interface FaceCloakResult {
  /** Region of the photo that was changed, in image pixels. */
  region: { x: number; y: number; width: number; height: number };
  steps: number;
  /** Mean cosine to the clean embeddings over the ensemble, before (1) and after, without transformation. */
  ensembleSimilarity: number;
  perRecognizer: Partial<Record<RecognizerId, number>>;
}

/**
 * Landmarks found on the cloaked file differ from the clean ones by a few pixels, and each recognizer then sees a
 * slightly different crop. A cloak tuned to one exact crop loses most of its effect (measured: ensemble similarity
 * -0.17 while optimising, 0.24-0.37 after writing the file and re-detecting), so every step jitters each alignment:
 * shift up to 3 % of the crop, scale +-5 %, rotation +-4 degrees.
 */
function jitter(alignment: FaceAlignment, random: () => number): FaceAlignment {
  const { size, photoToCrop: m } = alignment;
  const angle = ((random() * 2 - 1) * 4 * Math.PI) / 180;
  const scale = 1 + (random() * 2 - 1) * 0.05;
  const cos = Math.cos(angle) * scale;
  const sin = Math.sin(angle) * scale;
  // Rotate and scale about the crop centre, then shift.
  const c = size / 2;
  const shiftX = (random() * 2 - 1) * 0.03 * size;
  const shiftY = (random() * 2 - 1) * 0.03 * size;
  const a = cos * m.a - sin * m.b;
  const b = sin * m.a + cos * m.b;
  const tx = cos * (m.tx - c) - sin * (m.ty - c) + c + shiftX;
  const ty = sin * (m.tx - c) + cos * (m.ty - c) + c + shiftY;
  return { size, photoToCrop: { a, b, tx, ty } };
}

/** Margin around the detector's box that the perturbation may use, as a fraction of the box size. */
const regionMargin = 0.35;
/** Width of the feathered edge of the mask, as a fraction of the region size. */
const feather = 0.12;

function faceRegion(face: DetectedFace, image: RgbImage) {
  const { box } = face;
  const mx = box.width * regionMargin;
  const my = box.height * regionMargin;
  const x0 = Math.max(0, Math.floor(box.x - mx));
  const y0 = Math.max(0, Math.floor(box.y - my));
  const x1 = Math.min(image.width, Math.ceil(box.x + box.width + mx));
  const y1 = Math.min(image.height, Math.ceil(box.y + box.height + my));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** 1 inside, falling smoothly to 0 at the region's edge (where it touches the image edge it stays 1). */
function featherMask(region: { x: number; y: number; width: number; height: number }, image: RgbImage): tf.Tensor4D {
  const { width, height } = region;
  const ramp = (i: number, n: number, atImageStart: boolean, atImageEnd: boolean) => {
    const band = Math.max(1, n * feather);
    const fromStart = atImageStart ? Infinity : (i + 0.5) / band;
    const fromEnd = atImageEnd ? Infinity : (n - i - 0.5) / band;
    const t = Math.min(1, fromStart, fromEnd);
    return t * t * (3 - 2 * t); // smoothstep
  };
  const rows = Float32Array.from({ length: height }, (_, y) => ramp(y, height, region.y === 0, region.y + height === image.height));
  const cols = Float32Array.from({ length: width }, (_, x) => ramp(x, width, region.x === 0, region.x + width === image.width));
  return tf.tidy(() => tf.reshape(tf.outerProduct(tf.tensor1d(rows), tf.tensor1d(cols)), [1, height, width, 1]) as tf.Tensor4D);
}

function regionPixels(image: RgbImage, region: { x: number; y: number; width: number; height: number }): Float32Array {
  const out = new Float32Array(region.width * region.height * 3);
  for (let y = 0; y < region.height; y++) {
    const from = ((region.y + y) * image.width + region.x) * 3;
    out.set(image.data.subarray(from, from + region.width * 3), y * region.width * 3);
  }
  return out;
}

/**
 * Cloaks one face of `image` in place (its region's pixels are rewritten) against `ensemble`.
 * Tensors: everything allocated here is disposed before returning, on every path.
 */
export async function cloakFace(
  image: RgbImage,
  face: DetectedFace,
  ensemble: readonly Recognizer[],
  options: FaceCloakOptions,
): Promise<FaceCloakResult> {
  const region = faceRegion(face, image);
  const landmarks = face.landmarks.map((p) => ({ x: p.x - region.x, y: p.y - region.y }));
  const alignments: FaceAlignment[] = ensemble.map((r) => alignmentFor(landmarks, r.inputSize, r.cropScale));
  const random = createRandom(options.seed);
  const { epsilon } = options;
  const stepSize = Math.max(1, epsilon / 4);

  const clean = tf.tensor4d(regionPixels(image, region), [1, region.height, region.width, 3]);
  const mask = featherMask(region, image);
  const targets = ensemble.map((r, i) => tf.tidy(() => r.embed(warpFaces(tf.squeeze(clean, [0]) as tf.Tensor3D, [alignments[i]]))));
  const startNoise = Float32Array.from({ length: region.width * region.height * 3 }, () => (random() * 2 - 1) * epsilon * 0.25);
  let delta: tf.Tensor4D = tf.tensor4d(startNoise, clean.shape);
  let momentum: tf.Tensor4D = tf.zerosLike(delta);

  const perturbed = (d: tf.Tensor4D) => tf.clipByValue(tf.add(clean, tf.mul(mask, d)), 0, 255) as tf.Tensor4D;
  /** Mean cosine to the clean embeddings over the ensemble: [1] tensor, and per recognizer. */
  const similarity = (x: tf.Tensor4D, placed: readonly FaceAlignment[] = alignments) => {
    const photo = tf.squeeze(x, [0]) as tf.Tensor3D;
    const each = ensemble.map((r, i) => tf.sum(tf.mul(r.embed(warpFaces(photo, [placed[i]])), targets[i])));
    return { mean: tf.div(tf.addN(each), ensemble.length), each };
  };

  let best = { loss: Infinity, delta: tf.clone(delta), perRecognizer: [] as number[] };
  let steps = 0;
  try {
    for (let step = 0; step < options.steps; step++) {
      if (options.signal?.aborted) throw options.signal.reason ?? new DOMException('Cloaking was cancelled', 'AbortError');
      const transform = options.sampleTransform?.(random);
      const jittered = alignments.map((alignment) => jitter(alignment, random));
      const gradient = tf.tidy(() =>
        tf.grad((d: tf.Tensor) => {
          const x = perturbed(d as tf.Tensor4D);
          return similarity(transform ? transform.apply(x) : x, jittered).mean;
        })(delta),
      );
      const next = tf.tidy(() => {
        // MI-FGSM: accumulate L1-normalised gradients, step along the sign, project onto the L-inf ball.
        const normalised = tf.div(gradient, tf.add(tf.mean(tf.abs(gradient)), 1e-12));
        const m = tf.add(tf.mul(momentum, 0.9), normalised) as tf.Tensor4D;
        const d = tf.clipByValue(tf.sub(delta, tf.mul(tf.sign(m), stepSize)), -epsilon, epsilon) as tf.Tensor4D;
        return { m, d };
      });
      tf.dispose([gradient, momentum, delta]);
      momentum = next.m;
      delta = next.d;
      steps++;

      const scores = tf.tidy(() => {
        const s = similarity(perturbed(delta));
        return tf.stack([s.mean, ...s.each]);
      });
      const [loss, ...perRecognizer] = Array.from(await scores.data());
      scores.dispose();
      options.onStep?.(step, loss);
      if (loss < best.loss) {
        best.delta.dispose();
        best = { loss, delta: tf.clone(delta), perRecognizer };
      }
    }

    // Write the best perturbation back into the photo, rounded to 8 bits.
    const final = tf.tidy(() => tf.round(perturbed(best.delta)));
    const values = await final.data();
    final.dispose();
    for (let y = 0; y < region.height; y++) {
      const to = ((region.y + y) * image.width + region.x) * 3;
      image.data.set(values.subarray(y * region.width * 3, (y + 1) * region.width * 3), to);
    }
    return {
      region,
      steps,
      ensembleSimilarity: best.loss,
      perRecognizer: Object.fromEntries(ensemble.map((r, i) => [r.id, best.perRecognizer[i]])),
    };
  } finally {
    tf.dispose([clean, mask, delta, momentum, best.delta, ...targets]);
  }
}
