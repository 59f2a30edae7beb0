// The shipped reference pattern (models/mask-reference.json): it exists, loads for the product ensemble the extension
// cloaks with, and is set aside, not misused, for any other ensemble.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { productEnsemble } from '../../../src/engine/cloak/ensemble.ts';
import { loadMaskReference, maskReferenceId } from '../../../src/engine/cloak/mask-reference.ts';
import { maskReferencePhotos } from '../../../src/engine/cloak/mask-reference-node.ts';
import { personalMaskProblem } from '../../../src/engine/cloak/personal-mask-format.ts';
import { modelEntry } from '../../../src/engine/models/manifest.ts';
import { readModelFileNode } from '../../../src/engine/models/read-node.ts';

test('the shipped reference pattern was learned against the product ensemble, from the demo photos, and ships', async () => {
  const reference = await loadMaskReference(readModelFileNode, productEnsemble);
  assert.ok(reference, 'learned against another ensemble: run scripts/learn-mask-reference.ts');
  assert.equal(personalMaskProblem(reference, productEnsemble), null);
  // Every face of the six photos, at least one each.
  assert.ok(reference.photos >= maskReferencePhotos.length, `${reference.photos} faces`);
  const entry = modelEntry(maskReferenceId);
  assert.equal(entry.role, 'mask-reference');
  assert.notEqual(entry.shipInExtension, false);
  assert.ok('madeBy' in entry.source, 'made by the project, not from a package');
  assert.equal(entry.source.madeBy, 'scripts/learn-mask-reference.ts');
  assert.ok(entry.source.from.length > 0, 'says what it is made from');
});

test('for another ensemble there is no reference, rather than a wrong one', async () => {
  assert.equal(await loadMaskReference(readModelFileNode, ['human-mobileface']), null);
  assert.equal(await loadMaskReference(readModelFileNode, [...productEnsemble].reverse()), null);
});
