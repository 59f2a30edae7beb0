import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cosine,
  evasion,
  identify,
  iou,
  largestBox,
  matchFace,
  pairSimilarities,
  rankOfTruth,
  shareAtOrAbove,
  thresholdAtFar,
  unscaleBox,
} from '../../../bench/protection/metrics.ts';

const unit = (dim: number, i: number) => {
  const v = new Float32Array(dim);
  v[i] = 1;
  return v;
};

test('cosine: 1 for the same direction, 0 for orthogonal, -1 for opposite, scale-free', () => {
  assert.equal(cosine([1, 2, 3], [2, 4, 6]), 1);
  assert.equal(cosine([1, 0], [0, 5]), 0);
  assert.ok(Math.abs(cosine([1, 1], [-1, -1]) + 1) < 1e-12);
  assert.ok(Math.abs(cosine([1, 0], [1, 1]) - Math.SQRT1_2) < 1e-12);
  assert.throws(() => cosine([1, 2], [1, 2, 3]), RangeError);
});

test('iou: identical 1, disjoint 0, half overlap 1/3', () => {
  const a = { x: 0, y: 0, width: 10, height: 10 };
  assert.equal(iou(a, a), 1);
  assert.equal(iou(a, { x: 20, y: 0, width: 10, height: 10 }), 0);
  assert.ok(Math.abs(iou(a, { x: 5, y: 0, width: 10, height: 10 }) - 1 / 3) < 1e-12);
});

test('matchFace picks the best-overlapping face and refuses weak overlaps', () => {
  const ref = { x: 100, y: 100, width: 50, height: 50 };
  const far = { x: 0, y: 0, width: 80, height: 80 };
  const near = { x: 105, y: 102, width: 50, height: 50 };
  assert.equal(matchFace(ref, [far, near]).index, 1);
  assert.equal(matchFace(ref, [far]).index, -1);
  assert.equal(matchFace(ref, []).index, -1);
  // Overlap of 1/3 is accepted at 0.3 and refused at 0.5.
  const third = { x: 125, y: 100, width: 50, height: 50 };
  assert.equal(matchFace(ref, [third], 0.3).index, 0);
  assert.equal(matchFace(ref, [third], 0.5).index, -1);
});

test('largestBox and unscaleBox', () => {
  assert.equal(largestBox([]), -1);
  assert.equal(largestBox([{ x: 0, y: 0, width: 2, height: 2 }, { x: 0, y: 0, width: 3, height: 3 }, { x: 0, y: 0, width: 1, height: 1 }]), 1);
  assert.deepEqual(unscaleBox({ x: 10, y: 20, width: 30, height: 40 }, 0.5, 0.5), { x: 20, y: 40, width: 60, height: 80 });
});

test('thresholdAtFar accepts exactly 1% of 1000 distinct impostor scores', () => {
  const impostor = Array.from({ length: 1000 }, (_, i) => i / 1000);
  const t = thresholdAtFar(impostor.slice().reverse(), 0.01);
  assert.equal(t.impostorPairs, 1000);
  assert.equal(t.achievedFar, 0.01);
  assert.equal(impostor.filter((s) => s >= t.threshold).length, 10);
  assert.ok(t.threshold > 0.989 && t.threshold < 0.99);
  // Too few pairs for 1%: the threshold sits just above the largest impostor score.
  const few = thresholdAtFar([0.1, 0.5, 0.3], 0.01);
  assert.ok(few.threshold > 0.5 && few.threshold < 0.5001);
  assert.equal(few.achievedFar, 0);
  assert.throws(() => thresholdAtFar([], 0.01), RangeError);
});

test('pairSimilarities splits genuine and impostor pairs', () => {
  const items = [
    { label: 'a', embedding: [1, 0] },
    { label: 'a', embedding: [1, 0] },
    { label: 'b', embedding: [0, 1] },
  ];
  const { genuine, impostor } = pairSimilarities(items);
  assert.deepEqual(genuine, [1]);
  assert.deepEqual(impostor, [0, 0]);
  assert.equal(shareAtOrAbove([0.1, 0.5, 0.9, 1], 0.5), 0.75);
});

test('evasion counts below-threshold and not-detected faces, and reports them apart', () => {
  const r = evasion(
    [
      { detected: true, similarity: 0.9 },
      { detected: true, similarity: 0.2 },
      { detected: false },
      { detected: true, similarity: 0.5 },
    ],
    0.5,
  );
  assert.equal(r.total, 4);
  assert.equal(r.belowThreshold, 1);
  assert.equal(r.notDetected, 1);
  assert.equal(r.rate, 0.5);
  assert.ok(Math.abs(r.meanSimilarity - 1.6 / 3) < 1e-12);
  // Identical faces never evade; all lost faces always do.
  assert.equal(evasion([{ detected: true, similarity: 1 }], 0.4).rate, 0);
  assert.equal(evasion([{ detected: false }, { detected: false }], 0.4).rate, 1);
  assert.ok(Number.isNaN(evasion([], 0.4).rate));
});

test('identify: protection 0 when the probes equal the gallery photos', () => {
  const dim = 8;
  const gallery = new Map<string, Float32Array[]>();
  for (let i = 0; i < 6; i++) gallery.set(`id${i}`, [unit(dim, i)]);
  const probes = [unit(dim, 2), unit(dim, 2)];
  const r = identify(probes, 'id2', gallery);
  assert.equal(r.probes, 2);
  assert.equal(r.protection[1], 0);
  assert.equal(r.protection[5], 0);
});

test('identify: protection 1 (top-1) when the user gallery is orthogonal to the probes', () => {
  const dim = 16;
  const gallery = new Map<string, Float32Array[]>();
  // The user's (cloaked) gallery points elsewhere; distractors are slightly similar to the probe.
  gallery.set('user', [unit(dim, 15)]);
  const probe = new Float32Array(dim);
  probe[0] = 1;
  for (let i = 0; i < 6; i++) {
    const d = unit(dim, i + 1);
    d[0] = 0.1 * (i + 1);
    gallery.set(`other${i}`, [d]);
  }
  const r = identify([probe], 'user', gallery);
  assert.equal(r.protection[1], 1);
  // 6 distractors all score above the user's 0: the user ranks 7th, outside the top 5 too.
  assert.equal(rankOfTruth(probe, 'user', gallery), 7);
  assert.equal(r.protection[5], 1);
});

test('rankOfTruth: per-photo max, missing gallery = never identified', () => {
  const gallery = new Map<string, number[][]>([
    ['a', [[0, 1], [1, 0]]], // its best photo matches the probe exactly
    ['b', [[0.9, 0.1]]],
  ]);
  assert.equal(rankOfTruth([1, 0], 'a', gallery), 1);
  assert.equal(rankOfTruth([1, 0], 'b', gallery), 2);
  const empty = new Map<string, number[][]>([['a', []], ['b', [[1, 0]]]]);
  assert.equal(rankOfTruth([1, 0], 'a', empty), Number.POSITIVE_INFINITY);
  // An identity without gallery photos is never ranked ahead of anyone.
  assert.equal(rankOfTruth([1, 0], 'b', empty), 1);
  // Mixed: 1 of 2 probes identified at top-1.
  const r = identify([[1, 0], [0, 1]], 'b', new Map([['a', [[0, 1]]], ['b', [[1, 0]]]]));
  assert.equal(r.protection[1], 0.5);
  assert.equal(r.correct[1], 1);
});
