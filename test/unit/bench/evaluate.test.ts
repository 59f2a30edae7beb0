import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RecognizerId } from '../../../src/engine/faces/types.ts';
import { type Observation, type PhotoResult, evaluate, evasionOutcomes, summariseQuality } from '../../../bench/protection/evaluate.ts';
import { mulberry32 } from '../../../bench/lib/prng.ts';

const REC: RecognizerId = 'faceapi-resnet';
const DIM = 32;
const identities = ['a', 'b', 'c', 'd'];

function vec(axis: number, jitter: () => number): Float32Array {
  const v = new Float32Array(DIM);
  v[axis] = 1;
  for (let i = 0; i < DIM; i++) v[i] += 0.05 * jitter();
  return v;
}

/** 4 identities x 6 photos; identity k's faces point along axis k. Cloakers: none (clean), flip (orthogonal), lost. */
function photos(): PhotoResult[] {
  const r = mulberry32(9);
  const out: PhotoResult[] = [];
  identities.forEach((identity, k) => {
    for (let n = 0; n < 6; n++) {
      const clean = vec(k, r);
      const box = { x: 10, y: 10, width: 50, height: 50 };
      const seen = (e: Float32Array | null): Observation =>
        e ? { detected: true, faces: 1, iou: 1, embeddings: { [REC]: e } } : { detected: false, faces: 0, iou: 0 };
      out.push({
        id: `${identity}/${n}`,
        set: 's',
        identity,
        file: `${identity}/${n}.jpg`,
        width: 100,
        height: 100,
        clean: { faces: 1, box, score: 1, embeddings: { [REC]: clean } },
        measured: {
          none: { none: seen(clean), blur: seen(clean) },
          flip: { none: seen(vec(16 + k, r)), blur: seen(clean) },
          lost: { none: seen(null), blur: seen(null) },
        },
        quality: {
          none: { ssimWhole: 1, psnrWhole: Infinity, ssimFace: 1, psnrFace: Infinity, bytesRatio: 1 },
          flip: { ssimWhole: 0.9, psnrWhole: 30, ssimFace: 0.8, psnrFace: 20, bytesRatio: 2 },
        },
      });
    }
  });
  // One photo without a clean face: excluded everywhere.
  out.push({ id: 'a/x', set: 's', identity: 'a', file: 'a/x.jpg', width: 100, height: 100, clean: null, measured: {}, quality: {} });
  return out;
}

const cells = evaluate(photos(), {
  cloakers: ['none', 'flip', 'lost'],
  defenses: ['none', 'blur'],
  recognizers: [REC],
  thresholds: { [REC]: 0.5 },
  seeds: [0, 1, 2],
});
const cell = (cloaker: string, defense: string) => cells.find((c) => c.cloaker === cloaker && c.defense === defense)!;

test('clean baseline: no evasion, no protection, similarity 1', () => {
  const c = cell('none', 'none');
  assert.equal(c.evasion.total, 24);
  assert.equal(c.evasion.rate, 0);
  assert.ok(Math.abs(c.evasion.meanSimilarity - 1) < 1e-6);
  assert.equal(c.protectionTop1.mean, 0);
  assert.equal(c.protectionTop5.mean, 0);
  assert.deepEqual(c.probesPerSeed, [12, 12, 12]);
});

test('an orthogonal cloak evades and protects fully (top-1), unless the defense undoes it', () => {
  const c = cell('flip', 'none');
  assert.equal(c.evasion.rate, 1);
  assert.equal(c.evasion.notDetected, 0);
  assert.equal(c.protectionTop1.mean, 1);
  assert.equal(c.protectionTop1.std, 0);
  assert.deepEqual(c.protectionTop1.perSeed, [1, 1, 1]);
  // Only 4 identities: the true one is always within the top 5.
  assert.equal(c.protectionTop5.mean, 0);
  assert.deepEqual(Object.keys(c.perIdentityTop1).sort(), identities);
  const undone = cell('flip', 'blur');
  assert.equal(undone.evasion.rate, 0);
  assert.equal(undone.protectionTop1.mean, 0);
});

test('faces lost after cloaking count as evaded (separately) and leave the user without a gallery', () => {
  const c = cell('lost', 'none');
  assert.equal(c.evasion.rate, 1);
  assert.equal(c.evasion.notDetected, 24);
  assert.equal(c.evasion.belowThreshold, 0);
  assert.equal(c.protectionTop1.mean, 1);
  assert.equal(c.protectionTop5.mean, 1);
});

test('evasionOutcomes skips photos without a clean face', () => {
  const outcomes = evasionOutcomes(photos(), 'none', 'none', REC);
  assert.equal(outcomes.length, 24);
  assert.ok(outcomes.every((o) => o.detected && Math.abs(o.similarity - 1) < 1e-6));
});

test('a missing threshold is an error', () => {
  assert.throws(() => evaluate(photos(), { cloakers: ['none'], defenses: ['none'], recognizers: [REC], thresholds: {}, seeds: [0] }), /threshold/);
});

test('quality summary: identical files give SSIM 1 and infinite PSNR', () => {
  const none = summariseQuality(photos(), 'none');
  assert.equal(none.photos, 24);
  assert.equal(none.ssimWholeMean, 1);
  assert.equal(none.psnrWholeMean, Infinity);
  const flip = summariseQuality(photos(), 'flip');
  assert.ok(Math.abs(flip.ssimFaceMean - 0.8) < 1e-12);
  assert.equal(flip.psnrWholeMean, 30);
  assert.equal(flip.bytesRatioMean, 2);
});
