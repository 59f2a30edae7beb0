import assert from 'node:assert/strict';
import { test } from 'node:test';
import { productEnsemble } from '../../../src/engine/cloak/ensemble.ts';
import { encodeMaskPattern, maskFrame } from '../../../src/engine/cloak/personal-mask-format.ts';
import { parseStoredPersonalMask, personalMaskInfo } from '../../../src/shared/personal-mask.ts';

const mask = {
  ensemble: [...productEnsemble],
  ...maskFrame,
  pattern: encodeMaskPattern(new Float32Array(maskFrame.size * maskFrame.size * 3)),
  photos: 4,
};

test('stored data that is not shaped like a mask reads as no mask', () => {
  for (const value of [undefined, null, 'x', {}, { mask }, { mask: null, learnedAt: 1 }, { mask, learnedAt: '1' }, { mask, learnedAt: Number.NaN }]) {
    assert.equal(parseStoredPersonalMask(value), null, JSON.stringify(value)?.slice(0, 40));
  }
  assert.deepEqual(parseStoredPersonalMask({ mask, learnedAt: 5, extra: true }), { mask, learnedAt: 5 });
});

test("the options page's info says when a stored mask cannot be used, and why", () => {
  assert.deepEqual(personalMaskInfo({ mask, learnedAt: 5 }, productEnsemble), { learnedAt: 5, photos: 4, problem: null });
  const stale = personalMaskInfo({ mask: { ...mask, ensemble: ['human-faceres'] }, learnedAt: 5 }, productEnsemble);
  assert.match(stale.problem!, /other recognizers/);
  const damaged = personalMaskInfo({ mask: { ...mask, photos: 'four' as unknown as number }, learnedAt: 5 }, productEnsemble);
  assert.equal(damaged.photos, 0);
  assert.match(damaged.problem!, /damaged/);
});
