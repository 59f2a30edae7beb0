/**
 * Does targeted mode move faces toward the decoy in the eyes of a recognizer the cloak never saw? The protection
 * benchmark cannot tell (its measuring side knows nothing of decoys), so this cloaks each photo both ways with the
 * same seed and asks the held-out judge for the cloaked face's cosine to the decoy's face and to its own clean face.
 *
 *   npx tsx bench/protection/decoy-pull.ts [--ensemble xfacenet|xarcface] [--strength mid] [--decoy-weight 1]
 *       [--limit-per-identity 2] [--identities LIST] [--faces DIR]
 *
 * Decoys are the protection benchmark's (cloakers.ts `decoyChooser`: one per person, the least similar other identity
 * to the ensemble). Cloaks are re-encoded as JPEG q92 and re-detected, as posted. Prints a table and one JSON line
 * starting {"bench":"decoy-pull".
 */
import { parseArgs } from 'node:util';
import { useBackend } from '../../src/engine/backends/backends.ts';
import type { Strength } from '../../src/engine/cloak/cloak.ts';
import { createCloakEngine } from '../../src/engine/cloak/engine.ts';
import { cosineSimilarity } from '../../src/engine/faces/similarity.ts';
import { decodeImageNode } from '../../src/engine/image/decode-node.ts';
import { encodeImageNode } from '../../src/engine/image/encode-node.ts';
import { modelEntry } from '../../src/engine/models/manifest.ts';
import { readModelFileNode } from '../../src/engine/models/read-node.ts';
import { createFaceAnalyzer } from '../../src/engine/pipeline.ts';
import { defaultFacesDir, loadFixtures, readPhoto, selectPhotos } from '../lib/fixtures.ts';
import { formatTable, num } from '../lib/table.ts';
import { cloakEnsembles, decoyChooser } from './cloakers.ts';

const { values } = parseArgs({
  options: {
    ensemble: { type: 'string', default: 'xfacenet' },
    strength: { type: 'string', default: 'mid' },
    'decoy-weight': { type: 'string', default: '1' },
    'limit-per-identity': { type: 'string', default: '2' },
    identities: { type: 'string' },
    faces: { type: 'string' },
  },
});
const members = cloakEnsembles[values.ensemble];
if (!members) throw new Error(`--ensemble must be one of ${Object.keys(cloakEnsembles).join(', ')}, not ${values.ensemble}`);
const strength = values.strength as Strength;
if (!['low', 'mid', 'high'].includes(strength)) throw new Error(`--strength must be low, mid or high, not ${values.strength}`);
const decoyWeight = Number(values['decoy-weight']);
const judgeId = members.heldOut[0];
const facesDir = values.faces ?? defaultFacesDir();

await useBackend(['wasm']);
const engine = await createCloakEngine(readModelFileNode, { ensemble: members.ensemble });
const judge = await createFaceAnalyzer(readModelFileNode, { recognizers: [judgeId] });
try {
  const fixtures = await loadFixtures(facesDir);
  const chooseDecoy = await decoyChooser(engine, facesDir);
  const identities = values.identities?.split(',').map((id) => id.trim());
  const photos = selectPhotos(fixtures.photos, identities, Number(values['limit-per-identity']));
  /** The judge's embedding of the largest face in `bytes`; undefined when it finds none. */
  const judged = async (bytes: Uint8Array) => (await judge.analyze(await decodeImageNode(bytes)))[0]?.embeddings[judgeId];
  const decoyFaces = new Map<string, Float32Array | undefined>();
  // Per photo: cosine to the decoy's face for clean / untargeted / targeted, then to its own clean face for both cloaks.
  const rows: { id: string; decoy: string; toDecoy: number[]; toSelf: number[] }[] = [];
  for (const [index, photo] of photos.entries()) {
    const { identity, file, decoy } = chooseDecoy(photo.identity);
    if (!decoyFaces.has(file)) decoyFaces.set(file, await judged(await readPhoto(facesDir, fixtures.photos.find((p) => p.file === file)!)));
    const decoyFace = decoyFaces.get(file);
    const original = await readPhoto(facesDir, photo);
    const clean = await judged(original);
    if (!decoyFace || !clean) continue;
    const image = await decodeImageNode(original);
    const row = { id: photo.id, decoy: identity, toDecoy: [cosineSimilarity(clean, decoyFace)], toSelf: [] as number[] };
    for (const mode of ['untargeted', 'targeted'] as const) {
      const outcome = await engine.cloak(image, { strength, mode, decoy, seed: index, budget: { decoyWeight } });
      const cloaked = await judged(await encodeImageNode(outcome.image, 'jpeg', { quality: 92 }));
      row.toDecoy.push(cloaked ? cosineSimilarity(cloaked, decoyFace) : NaN);
      row.toSelf.push(cloaked ? cosineSimilarity(cloaked, clean) : NaN);
    }
    rows.push(row);
    console.log(`[${index + 1}/${photos.length}] ${photo.id} -> ${identity}: to the decoy ${row.toDecoy.map((v) => num(v)).join(' / ')}`);
  }
  /** Mean over the photos whose cloak was re-detected (NaN marks one that was not). */
  const mean = (pick: (row: (typeof rows)[number]) => number) => {
    const found = rows.map(pick).filter(Number.isFinite);
    return found.reduce((sum, v) => sum + v, 0) / found.length;
  };
  const summary = {
    clean: { toDecoy: mean((r) => r.toDecoy[0]), toSelf: 1 },
    untargeted: { toDecoy: mean((r) => r.toDecoy[1]), toSelf: mean((r) => r.toSelf[0]) },
    targeted: { toDecoy: mean((r) => r.toDecoy[2]), toSelf: mean((r) => r.toSelf[1]) },
  };
  console.log(
    `\n${judgeId} (held out from ${members.ensemble.join(' + ')}), ${strength}, decoy weight ${decoyWeight}, ${rows.length} photos; ` +
      `match threshold ${modelEntry(judgeId).thresholdAt1PctFar}\n`,
  );
  console.log(
    formatTable(
      ['cloak', 'mean cos to the decoy', 'mean cos to own clean face'],
      Object.entries(summary).map(([name, s]) => [name, num(s.toDecoy), num(s.toSelf)]),
    ),
  );
  console.log(JSON.stringify({ bench: 'decoy-pull', judge: judgeId, ensemble: members.ensemble, strength, decoyWeight, photos: rows.length, ...summary }));
} finally {
  engine.dispose();
  judge.dispose();
}
