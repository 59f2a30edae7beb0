/**
 * Pure metric functions of the protection benchmark (no I/O, no models): face matching, thresholds,
 * evasion and identification. Unit-tested on synthetic embeddings in test/unit/bench/metrics.test.ts.
 */
import type { Box } from '../../src/engine/faces/types.ts';

import { cosineSimilarity as cosine } from '../../src/engine/faces/similarity.ts';

export { cosine };
export { DEFAULT_MIN_IOU, iou, matchFace } from '../../src/engine/faces/boxes.ts';

/** A box measured on an image rescaled by (sx, sy) mapped back: x / sx. */
export function unscaleBox(box: Box, sx: number, sy: number): Box {
  return { x: box.x / sx, y: box.y / sy, width: box.width / sx, height: box.height / sy };
}

/** Index of the box largest by area; -1 for none. */
export function largestBox(boxes: readonly Box[]): number {
  let best = -1;
  let bestArea = -1;
  boxes.forEach((b, i) => {
    const area = b.width * b.height;
    if (area > bestArea) {
      best = i;
      bestArea = area;
    }
  });
  return best;
}

export interface LabelledEmbedding {
  label: string;
  embedding: ArrayLike<number>;
}

/** Cosine similarity of every unordered pair, split into genuine (same label) and impostor (different). */
export function pairSimilarities(items: readonly LabelledEmbedding[]): { genuine: number[]; impostor: number[] } {
  const genuine: number[] = [];
  const impostor: number[] = [];
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const s = cosine(items[i].embedding, items[j].embedding);
      (items[i].label === items[j].label ? genuine : impostor).push(s);
    }
  }
  return { genuine, impostor };
}

export interface FarThreshold {
  /** A pair matches when its similarity is >= threshold. */
  threshold: number;
  /** Share of the impostor pairs at or above the threshold (<= the target far). */
  achievedFar: number;
  impostorPairs: number;
}

/**
 * Cosine threshold at a false-accept rate: with k = floor(far * n) the largest impostor similarities s1 >= s2 >= ...,
 * the threshold lies midway between s_k and s_(k+1), so exactly k impostor pairs (barring ties) are accepted.
 * With k = 0 it lies just above the largest impostor similarity.
 */
export function thresholdAtFar(impostor: readonly number[], far: number): FarThreshold {
  if (impostor.length === 0) throw new RangeError('no impostor pairs to set a threshold from');
  if (!(far >= 0 && far < 1)) throw new RangeError(`far must be in [0, 1), not ${far}`);
  const sorted = impostor.slice().sort((a, b) => b - a);
  const k = Math.floor(far * sorted.length);
  const threshold = k === 0 ? sorted[0] + 1e-6 : (sorted[k - 1] + sorted[k]) / 2;
  const accepted = sorted.filter((s) => s >= threshold).length;
  return { threshold, achievedFar: accepted / sorted.length, impostorPairs: sorted.length };
}

/** Share of `values` at or above `threshold` (e.g. genuine accept rate). */
export function shareAtOrAbove(values: readonly number[], threshold: number): number {
  if (values.length === 0) return Number.NaN;
  return values.filter((v) => v >= threshold).length / values.length;
}

/** What the measuring side found for one cloaked (+defended) photo, relative to the same photo's clean face. */
export type EvasionOutcome = { detected: false } | { detected: true; similarity: number };

export interface EvasionResult {
  /** (belowThreshold + notDetected) / total. */
  rate: number;
  total: number;
  /** Re-detected and matched, but similarity to the clean face < threshold. */
  belowThreshold: number;
  /** No face matching the clean face was re-detected (counted as evaded). */
  notDetected: number;
  /** Mean similarity over the photos where the face was re-detected; NaN when none was. */
  meanSimilarity: number;
}

export function evasion(outcomes: readonly EvasionOutcome[], threshold: number): EvasionResult {
  let below = 0;
  let notDetected = 0;
  let simSum = 0;
  let detected = 0;
  for (const o of outcomes) {
    if (!o.detected) {
      notDetected++;
      continue;
    }
    detected++;
    simSum += o.similarity;
    if (o.similarity < threshold) below++;
  }
  const total = outcomes.length;
  return {
    rate: total > 0 ? (below + notDetected) / total : Number.NaN,
    total,
    belowThreshold: below,
    notDetected,
    meanSimilarity: detected > 0 ? simSum / detected : Number.NaN,
  };
}

/**
 * Rank (1 = best) of the true identity for one probe against a gallery, nearest neighbour by cosine with
 * per-photo max: an identity's score is its best-matching gallery photo. Ties go to the recognizer (only
 * identities scoring strictly higher rank ahead). An identity with no gallery photo cannot be chosen;
 * when the true identity has none, the rank is Infinity.
 */
export function rankOfTruth(
  probe: ArrayLike<number>,
  truth: string,
  gallery: ReadonlyMap<string, readonly ArrayLike<number>[]>,
): number {
  const scores = new Map<string, number>();
  for (const [identity, embeddings] of gallery) {
    let best = Number.NEGATIVE_INFINITY;
    for (const e of embeddings) best = Math.max(best, cosine(probe, e));
    if (embeddings.length > 0) scores.set(identity, best);
  }
  const own = scores.get(truth);
  if (own === undefined) return Number.POSITIVE_INFINITY;
  let ahead = 0;
  for (const [identity, score] of scores) if (identity !== truth && score > own) ahead++;
  return ahead + 1;
}

export interface IdentificationResult {
  probes: number;
  /** Probes whose true identity ranked within k, per k. */
  correct: Record<number, number>;
  /** Protection rate per k: 1 - top-k accuracy (NaN without probes). */
  protection: Record<number, number>;
}

/** Top-k accuracy of the user's probes against the gallery, as protection rates 1 - acc@k. */
export function identify(
  probes: readonly ArrayLike<number>[],
  truth: string,
  gallery: ReadonlyMap<string, readonly ArrayLike<number>[]>,
  ks: readonly number[] = [1, 5],
): IdentificationResult {
  const ranks = probes.map((p) => rankOfTruth(p, truth, gallery));
  return summariseRanks(ranks, ks);
}

export function summariseRanks(ranks: readonly number[], ks: readonly number[] = [1, 5]): IdentificationResult {
  const correct: Record<number, number> = {};
  const protection: Record<number, number> = {};
  for (const k of ks) {
    correct[k] = ranks.filter((r) => r <= k).length;
    protection[k] = ranks.length > 0 ? 1 - correct[k] / ranks.length : Number.NaN;
  }
  return { probes: ranks.length, correct, protection };
}
