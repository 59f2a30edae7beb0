import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rank1LeaveOneOut, rocAuc, summariseVerification } from '../../../bench/zoo/verification.ts';

test('rocAuc: 1 when genuine all above impostor, 0 when all below, 0.5 for identical distributions', () => {
  assert.equal(rocAuc([0.9, 0.8], [0.1, 0.2, 0.3]), 1);
  assert.equal(rocAuc([0.1], [0.5, 0.6]), 0);
  assert.equal(rocAuc([0.5, 0.5], [0.5, 0.5]), 0.5);
  // One of the four genuine/impostor orderings is wrong.
  assert.equal(rocAuc([0.9, 0.4], [0.5, 0.1]), 0.75);
});

test('rank1LeaveOneOut counts nearest neighbours with the same label and skips singletons', () => {
  const items = [
    { label: 'a', embedding: [1, 0] },
    { label: 'a', embedding: [0.9, 0.1] },
    { label: 'b', embedding: [0, 1] },
    { label: 'b', embedding: [0.8, 0.2] }, // nearest is an 'a'
    { label: 'c', embedding: [-1, 0] }, // singleton: not counted
  ];
  assert.equal(rank1LeaveOneOut(items), 3 / 4);
});

test('summariseVerification: a perfect recognizer gets AUC 1, TAR 1 and a threshold between the classes', () => {
  const items = [
    ...[0, 1, 2].map((i) => ({ label: 'a', embedding: [1, 0.01 * i, 0] })),
    ...[0, 1, 2].map((i) => ({ label: 'b', embedding: [0, 1, 0.01 * i] })),
    ...[0, 1, 2].map((i) => ({ label: 'c', embedding: [0.01 * i, 0, 1] })),
  ];
  const summary = summariseVerification(items);
  assert.equal(summary.auc, 1);
  assert.equal(summary.tarAt1PctFar, 1);
  assert.equal(summary.rank1, 1);
  assert.ok(summary.thresholdAt1PctFar < 0.99 && summary.thresholdAt1PctFar > 0.01);
  assert.equal(summary.genuinePairs, 9);
  assert.equal(summary.impostorPairs, 27);
});
