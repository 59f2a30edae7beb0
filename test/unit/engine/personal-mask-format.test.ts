import assert from 'node:assert/strict';
import { test } from 'node:test';
import { productEnsemble } from '../../../src/engine/cloak/ensemble.ts';
import {
  type PersonalMask,
  encodeMaskPattern,
  maskFrame,
  maskPattern,
  personalMaskProblem,
} from '../../../src/engine/cloak/personal-mask-format.ts';

const values = maskFrame.size * maskFrame.size * 3;

function mask(overrides: Partial<PersonalMask> = {}): PersonalMask {
  const shares = Float32Array.from({ length: values }, (_, i) => Math.sin(i) * 1.2); // Some beyond -1..1.
  return { ensemble: [...productEnsemble], ...maskFrame, pattern: encodeMaskPattern(shares), photos: 3, ...overrides };
}

test('the pattern survives storage as int8: within half a step, clipped to -1..1', () => {
  const { shares } = maskPattern(mask(), productEnsemble);
  assert.equal(shares.length, values);
  for (let i = 0; i < values; i += 97) {
    const expected = Math.max(-1, Math.min(1, Math.sin(i) * 1.2));
    assert.ok(Math.abs(shares[i]! - expected) <= 0.5 / 127 + 1e-6, `value ${i}: ${shares[i]} vs ${expected}`);
  }
  assert.equal(personalMaskProblem(mask(), productEnsemble), null);
});

test('every way a stored mask can be unusable has its own reason, and maskPattern throws it', () => {
  const cases: [unknown, RegExp][] = [
    [null, /not a personal mask/],
    ['mask', /not a personal mask/],
    [mask({ ensemble: ['human-faceres'] }), /learned against other recognizers/],
    [{ ...mask(), ensemble: 'human-faceres' }, /learned against other recognizers/],
    [mask({ size: 64 }), /another version/],
    [mask({ cropScale: 0.6 }), /another version/],
    [mask({ photos: 0 }), /damaged: it says no photo/],
    [mask({ pattern: mask().pattern.slice(8) }), /damaged: \d+ values/],
    [mask({ pattern: 'not base64!' }), /damaged: 0 values/],
    [{ ...mask(), pattern: 42 }, /damaged/],
  ];
  for (const [value, reason] of cases) {
    assert.match(personalMaskProblem(value, productEnsemble) ?? 'usable', reason, JSON.stringify(value)?.slice(0, 60));
    assert.throws(() => maskPattern(value as PersonalMask, productEnsemble), reason);
  }
});
