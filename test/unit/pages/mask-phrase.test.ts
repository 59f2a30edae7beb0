import assert from 'node:assert/strict';
import { test } from 'node:test';
import { personalMaskPhrase } from '../../../src/pages/protect/mask-phrase.ts';

const faces = (...fromMask: boolean[]) => fromMask.map((fromPersonalMask) => ({ fromPersonalMask }));

test('personalMaskPhrase: nothing without the mask, all from it, or which share the mask fitted', () => {
  assert.equal(personalMaskPhrase(faces(false, false)), '');
  assert.equal(personalMaskPhrase(faces(true)), ', starting from your personal mask');
  assert.equal(personalMaskPhrase(faces(true, false)), ', 1 of 2 starting from your personal mask (it did not fit the other, cloaked from scratch)');
  assert.equal(personalMaskPhrase(faces(false, true, false)), ', 1 of 3 starting from your personal mask (it did not fit the others, cloaked from scratch)');
});
