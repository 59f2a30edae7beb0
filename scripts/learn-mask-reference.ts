/**
 * Learns the reference start pattern (src/engine/cloak/mask-reference.ts) against the product ensemble at mid, on
 * the wasm backend, writes it to models/mask-reference.json and its bytes and sha256 to the manifest. Run it again
 * when the product ensemble, mid's budget or how masks are learned changes (the engine ignores a reference learned
 * against another ensemble and then refuses to start faces from a mask).
 *
 *   npx tsx scripts/learn-mask-reference.ts      (about 6 minutes on 2 cores: 22 faces, 32 steps each)
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { useBackend } from '../src/engine/backends/backends.ts';
import { createCloakEngine } from '../src/engine/cloak/engine.ts';
import { productEnsemble } from '../src/engine/cloak/ensemble.ts';
import { maskReferenceId } from '../src/engine/cloak/mask-reference.ts';
import { learnMaskReference } from '../src/engine/cloak/mask-reference-node.ts';
import type { ModelManifest } from '../src/engine/models/manifest.ts';
import { readModelFileNode } from '../src/engine/models/read-node.ts';

const manifestUrl = new URL('../models/manifest.json', import.meta.url);
const manifest = JSON.parse(await readFile(manifestUrl, 'utf8')) as ModelManifest;
const entry = manifest.models.find((model) => model.id === maskReferenceId);
if (!entry) throw new Error(`models/manifest.json has no "${maskReferenceId}" entry to fill`);
const [file] = entry.files;

await useBackend(['wasm']);
// Learned without comparing against a reference, so no old file is read.
const engine = await createCloakEngine(readModelFileNode, { ensemble: productEnsemble, maskReference: null });
try {
  const started = performance.now();
  let last = 0;
  const reference = await learnMaskReference(engine, {
    strength: 'mid',
    onProgress: ({ step, steps }) => {
      if (step === steps || performance.now() - last > 30_000) {
        last = performance.now();
        console.log(`step ${step}/${steps}`);
      }
    },
  });
  const bytes = new TextEncoder().encode(`${JSON.stringify(reference)}\n`);
  await writeFile(new URL(`../${file.path}`, import.meta.url), bytes);
  Object.assign(file, { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  await writeFile(manifestUrl, `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(
    `${file.path}: learned from ${reference.photos} faces against ${reference.ensemble.join(' + ')} in ` +
      `${((performance.now() - started) / 1000).toFixed(0)} s; ${bytes.length} bytes, manifest updated`,
  );
} finally {
  engine.dispose();
}
