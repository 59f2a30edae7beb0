/** Verification and identification accuracy of one recognizer on labelled embeddings (pure, unit-tested). */
import { type LabelledEmbedding, cosine, pairSimilarities, shareAtOrAbove, thresholdAtFar } from '../protection/metrics.ts';

/** Area under the ROC curve = P(genuine similarity > impostor similarity), ties counted half (Mann-Whitney U). */
export function rocAuc(genuine: readonly number[], impostor: readonly number[]): number {
  if (genuine.length === 0 || impostor.length === 0) return Number.NaN;
  const all = [...genuine.map((v) => ({ v, g: 1 })), ...impostor.map((v) => ({ v, g: 0 }))].sort((a, b) => a.v - b.v);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j].v === all[i].v) j++;
    const averageRank = (i + 1 + j) / 2; // ranks are 1-based
    for (let k = i; k < j; k++) if (all[k].g) rankSum += averageRank;
    i = j;
  }
  const u = rankSum - (genuine.length * (genuine.length + 1)) / 2;
  return u / (genuine.length * impostor.length);
}

/** Leave-one-out rank-1: share of items whose most similar other item has the same label. */
export function rank1LeaveOneOut(items: readonly LabelledEmbedding[]): number {
  let correct = 0;
  let counted = 0;
  for (let i = 0; i < items.length; i++) {
    // An identity with a single photo has no true match to find.
    if (!items.some((other, j) => j !== i && other.label === items[i].label)) continue;
    let best = Number.NEGATIVE_INFINITY;
    let label = '';
    for (let j = 0; j < items.length; j++) {
      if (j === i) continue;
      const s = cosine(items[i].embedding, items[j].embedding);
      if (s > best) {
        best = s;
        label = items[j].label;
      }
    }
    counted++;
    if (label === items[i].label) correct++;
  }
  return counted > 0 ? correct / counted : Number.NaN;
}

export interface VerificationSummary {
  photos: number;
  genuinePairs: number;
  impostorPairs: number;
  auc: number;
  /** Cosine similarity threshold at 1 % false-accept rate. */
  thresholdAt1PctFar: number;
  tarAt1PctFar: number;
  rank1: number;
}

export function summariseVerification(items: readonly LabelledEmbedding[]): VerificationSummary {
  const { genuine, impostor } = pairSimilarities(items);
  const { threshold } = thresholdAtFar(impostor, 0.01);
  return {
    photos: items.length,
    genuinePairs: genuine.length,
    impostorPairs: impostor.length,
    auc: rocAuc(genuine, impostor),
    thresholdAt1PctFar: threshold,
    tarAt1PctFar: shareAtOrAbove(genuine, threshold),
    rank1: rank1LeaveOneOut(items),
  };
}
