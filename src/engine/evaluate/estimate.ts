/**
 * The protection estimate the popup and the protect page show after a cloak: a fast subset of bench/protection.
 * For every face of the original photo and every (recognizer, defense) pair: apply the defense to the cloaked photo,
 * re-detect the face from scratch, re-align, embed, and compare with the clean face's embedding at the recognizer's
 * 1 %-FAR threshold (models/manifest.json). A face the detector no longer finds counts as protected, as in the
 * benchmark.
 *
 * Honesty rule: only recognizers the cloak never saw (`seenByCloak: false`) estimate protection; the headline is
 * computed from those alone. Recognizers in the cloak's ensemble are reported for completeness (they show whether
 * the optimisation worked), never as protection. This estimates evasion of the cloaked photo against its own clean
 * version, a stricter test than matching other photos of the person (bench/protection measures that too).
 */
import * as tf from '@tensorflow/tfjs';
import type { FaceDetector } from '../detect/detector.ts';
import { DEFAULT_MIN_IOU, matchFace } from '../faces/boxes.ts';
import { cosineSimilarity } from '../faces/similarity.ts';
import type { Box, DetectedFace, RecognizerId } from '../faces/types.ts';
import { cropRgb } from '../image/pixels.ts';
import type { RgbImage } from '../image/types.ts';
import type { ModelFileReader } from '../models/manifest.ts';
import { embedFaces, loadFaceModels } from '../pipeline.ts';
import type { Recognizer } from '../recognizers/recognizer.ts';
import { gaussianBlur, medianBlurApprox, resizeRoundTrip } from '../cloak/transforms.ts';

/** Something a site or a tracker does to a posted photo before matching it. */
export interface ProtectionDefense {
  id: string;
  /** Short label for the popup's matrix column. */
  label: string;
  apply(image: RgbImage): Promise<RgbImage>;
}

/** JPEG round trip at a quality, supplied by the platform (sharp in Node, OffscreenCanvas in the extension). */
export type JpegRoundTrip = (image: RgbImage, quality: number) => Promise<RgbImage>;

function tensorDefense(id: string, label: string, transform: (x: tf.Tensor4D) => tf.Tensor4D): ProtectionDefense {
  return {
    id,
    label,
    async apply(image) {
      const out = tf.tidy(() => {
        const x = tf.tensor4d(image.data, [1, image.height, image.width, 3], 'float32');
        return tf.clipByValue(tf.round(transform(x)), 0, 255);
      });
      const values = await out.data();
      out.dispose();
      return { width: image.width, height: image.height, data: Uint8Array.from(values) };
    },
  };
}

/**
 * The default defenses: the photo as posted, JPEG q75 (when the platform gives a codec), gaussian blur sigma 1.5,
 * median 5, and a downscale to half size and back (what a tracker's thumbnailing does to the face).
 */
export function defaultDefenses(jpeg?: JpegRoundTrip): ProtectionDefense[] {
  return [
    { id: 'none', label: 'as posted', apply: async (image) => image },
    ...(jpeg ? [{ id: 'jpeg75', label: 'JPEG 75', apply: (image: RgbImage) => jpeg(image, 75) }] : []),
    tensorDefense('gauss1.5', 'blur', (x) => gaussianBlur(x, 1.5)),
    tensorDefense('median5', 'median', (x) => medianBlurApprox(x, 5)),
    tensorDefense('resize0.5', 'resize', (x) => resizeRoundTrip(x, 0.5)),
  ];
}

export interface EstimateRecognizer {
  id: RecognizerId;
  /** models/manifest.json `family`, e.g. "ArcFace-style". */
  family: string;
  /** True when the cloak optimised against it: its numbers are not an estimate of protection. */
  seenByCloak: boolean;
  threshold: number;
}

export interface EstimateCell {
  recognizer: RecognizerId;
  defense: string;
  /** Faces judged under this defense: those the detector still finds in the clean photo after the defense. */
  faces: number;
  /** Faces whose defended cloaked version is not matched to the clean face (below threshold, or not found). */
  protectedFaces: number;
  /** Mean cosine to the clean face over the faces that were found again; null when none was. */
  meanSimilarity: number | null;
}

export interface ProtectionEstimate {
  recognizers: EstimateRecognizer[];
  defenses: { id: string; label: string }[];
  /** Faces judged: found in the original and found again, clean, by the estimate's own procedure. */
  faces: number;
  /** Faces of the original the procedure could not find again even without a cloak (too small, cut off). */
  unjudgedFaces: number;
  cells: EstimateCell[];
  /**
   * Share of (face, held-out recognizer, defense) checks in which the face was not matched: the one number to show.
   * Null when no recognizer was held out or the photo has no face.
   */
  heldOutProtection: number | null;
  ms: number;
}

export interface ProtectionEstimatorOptions {
  /** Recognizers to judge with; each is marked by whether `ensemble` contains it. */
  recognizers: readonly RecognizerId[];
  /** The recognizers the cloak optimised against. */
  ensemble: readonly RecognizerId[];
  defenses: readonly ProtectionDefense[];
}

export interface ProtectionEstimator {
  estimate(original: RgbImage, cloaked: RgbImage): Promise<ProtectionEstimate>;
  dispose(): void;
}

/** Face box grown by this fraction per side: the part of the photo each defense is applied to (defenses are local). */
const contextMargin = 1;

function grow(box: Box, image: RgbImage) {
  const x0 = Math.max(0, Math.floor(box.x - box.width * contextMargin));
  const y0 = Math.max(0, Math.floor(box.y - box.height * contextMargin));
  const x1 = Math.min(image.width, Math.ceil(box.x + box.width * (1 + contextMargin)));
  const y1 = Math.min(image.height, Math.ceil(box.y + box.height * (1 + contextMargin)));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

async function embedOne(image: RgbImage, face: DetectedFace, recognizer: Recognizer): Promise<Float32Array> {
  const photo = tf.tensor3d(image.data, [image.height, image.width, 3], 'float32');
  try {
    return (await embedFaces(photo, [face], recognizer))[0];
  } finally {
    photo.dispose();
  }
}

export async function createProtectionEstimator(read: ModelFileReader, options: ProtectionEstimatorOptions): Promise<ProtectionEstimator> {
  const { detector, recognizers } = await loadFaceModels(read, options.recognizers);
  const estimator = protectionEstimatorWith(detector, recognizers, options);
  return {
    estimate: estimator.estimate,
    dispose() {
      detector.dispose();
      for (const recognizer of recognizers) recognizer.dispose();
    },
  };
}

/** An estimator on models the caller owns (the cloak engine shares its detector and ensemble); dispose is a no-op. */
export function protectionEstimatorWith(
  detector: FaceDetector,
  recognizers: readonly Recognizer[],
  options: Omit<ProtectionEstimatorOptions, 'recognizers'>,
): ProtectionEstimator {
  const described: EstimateRecognizer[] = recognizers.map((r) => ({
    id: r.id,
    family: r.entry.family ?? r.id,
    seenByCloak: options.ensemble.includes(r.id),
    threshold: r.entry.thresholdAt1PctFar ?? 0.5,
  }));

  return {
    async estimate(original, cloaked) {
      if (original.width !== cloaked.width || original.height !== cloaked.height) {
        throw new RangeError(`estimateProtection: sizes differ (${original.width}x${original.height} vs ${cloaked.width}x${cloaked.height})`);
      }
      const started = performance.now();
      const faces = await detector.detect(original);
      // counts[recognizer][defense]
      let judged = 0;
      let unjudged = 0;
      const cells = described.map((r) =>
        options.defenses.map((d) => ({ recognizer: r.id, defense: d.id, faces: 0, protectedFaces: 0, similarities: [] as number[] })),
      );
      for (const face of faces) {
        const area = grow(face.box, original);
        const shift = (f: DetectedFace): DetectedFace => ({
          ...f,
          box: { ...f.box, x: f.box.x - area.x, y: f.box.y - area.y },
          landmarks: f.landmarks.map((p) => ({ x: p.x - area.x, y: p.y - area.y })),
        });
        const cleanCrop = cropRgb(original, area);
        const cloakedCrop = cropRgb(cloaked, area);
        // The reference is the face as this same procedure finds it in the clean crop: a face the detector cannot
        // find there even unprotected says nothing about the cloak, and is left out rather than counted as protected.
        const cleanFound = await detector.detect(cleanCrop);
        const cleanMatch = matchFace(shift(face).box, cleanFound.map((f) => f.box), DEFAULT_MIN_IOU);
        if (cleanMatch.index < 0) {
          unjudged++;
          continue;
        }
        const cleanFace = cleanFound[cleanMatch.index];
        judged++;
        const clean = await Promise.all(recognizers.map((r) => embedOne(cleanCrop, cleanFace, r)));
        for (const [di, defense] of options.defenses.entries()) {
          // Under a defense that already hides the clean face from the detector (heavy blur on a small face) the cloak
          // deserves no credit: such (face, defense) pairs are not judged.
          const cleanDefended = defense.id === 'none' ? cleanCrop : await defense.apply(cleanCrop);
          if (cleanDefended !== cleanCrop) {
            const stillFound = await detector.detect(cleanDefended);
            if (matchFace(cleanFace.box, stillFound.map((f) => f.box), DEFAULT_MIN_IOU).index < 0) continue;
          }
          const defended = await defense.apply(cloakedCrop);
          const found = await detector.detect(defended);
          const match = matchFace(cleanFace.box, found.map((f) => f.box), DEFAULT_MIN_IOU);
          for (const [ri, recognizer] of recognizers.entries()) {
            const cell = cells[ri][di];
            cell.faces++;
            if (match.index < 0) {
              cell.protectedFaces++;
              continue;
            }
            const similarity = cosineSimilarity(await embedOne(defended, found[match.index], recognizer), clean[ri]);
            cell.similarities.push(similarity);
            if (similarity < described[ri].threshold) cell.protectedFaces++;
          }
        }
      }
      const flat: EstimateCell[] = cells.flat().map(({ similarities, ...cell }) => ({
        ...cell,
        meanSimilarity: similarities.length ? similarities.reduce((a, b) => a + b, 0) / similarities.length : null,
      }));
      const heldOut = flat.filter((cell) => !described.find((r) => r.id === cell.recognizer)!.seenByCloak);
      const checks = heldOut.reduce((sum, cell) => sum + cell.faces, 0);
      return {
        recognizers: described,
        defenses: options.defenses.map(({ id, label }) => ({ id, label })),
        faces: judged,
        unjudgedFaces: unjudged,
        cells: flat,
        heldOutProtection: checks > 0 ? heldOut.reduce((sum, cell) => sum + cell.protectedFaces, 0) / checks : null,
        ms: performance.now() - started,
      };
    },
    dispose() {},
  };
}
