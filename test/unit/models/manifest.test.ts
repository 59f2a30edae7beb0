// models/manifest.json is the single description of every model: it must match the bytes in node_modules and
// describe every recognizer the zoo loads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { modelManifest, recognizerEntry } from '../../../src/engine/models/manifest.ts';
import { recognizerIds } from '../../../src/engine/recognizers/zoo.ts';

test('every file in the manifest has the recorded size and sha256', () => {
  const run = spawnSync(process.execPath, ['scripts/models-manifest.mjs'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
});

test('every zoo recognizer is described: input, normalisation, embedding, 1 %-FAR threshold, family', () => {
  for (const id of recognizerIds) {
    const entry = recognizerEntry(id);
    assert.ok(entry.input.size > 0 && entry.input.normalisation.length > 0, id);
    assert.ok(entry.embedding && entry.embedding.dim > 0, id);
    assert.ok(typeof entry.thresholdAt1PctFar === 'number', `${id} has no measured threshold (npm run bench:zoo -- --write-thresholds)`);
    assert.ok(entry.family, id);
  }
});

test('excluded models say why and are not shipped', () => {
  for (const entry of modelManifest.models.filter((m) => m.role === 'excluded')) {
    assert.ok(entry.excludedBecause, entry.id);
    assert.equal(entry.shipInExtension, false, entry.id);
  }
});

test('extension paths are unique and inside models/', () => {
  const paths = modelManifest.models.flatMap((m) => m.files.map((f) => f.extensionPath));
  assert.equal(new Set(paths).size, paths.length);
  for (const path of paths) assert.match(path, /^models\/[a-z-]+\/[\w.-]+$/);
});

test("the manifest's cloak roles match the product ensemble, and at least one recognizer is held out", async () => {
  const { productEnsemble } = await import('../../../src/engine/cloak/ensemble.ts');
  for (const id of recognizerIds) {
    assert.equal(recognizerEntry(id).cloakRole, productEnsemble.includes(id) ? 'cloak-ensemble' : 'held-out', id);
  }
  assert.ok(recognizerIds.some((id) => !productEnsemble.includes(id)));
});
