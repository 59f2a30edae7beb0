/** Box geometry shared by the protection estimate and the benchmark: overlap and re-detected face matching. */
import type { Box } from './types.ts';

/** Intersection over union of two boxes; 0 when they do not overlap. */
export function iou(a: Box, b: Box): number {
  const x0 = Math.max(a.x, b.x);
  const y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.width, b.x + b.width);
  const y1 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** Default smallest IoU for a re-detected face to count as the same face as the reference. */
export const DEFAULT_MIN_IOU = 0.3;

/** Index of the candidate with the best IoU to `reference`, or -1 when none reaches `minIoU`. */
export function matchFace(reference: Box, candidates: readonly Box[], minIoU = DEFAULT_MIN_IOU): { index: number; iou: number } {
  let index = -1;
  let best = 0;
  candidates.forEach((c, i) => {
    const v = iou(reference, c);
    if (v > best) {
      best = v;
      index = i;
    }
  });
  return best >= minIoU && index >= 0 ? { index, iou: best } : { index: -1, iou: best };
}

