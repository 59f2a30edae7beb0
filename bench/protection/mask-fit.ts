/**
 * Does a personal mask tell its own person from other people in the photo? A face should start from the mask only
 * when the mask is that face's (cloak.ts `startFit`); the engine's test is the face's ensemble similarity as started
 * from the mask (`startSimilarity`: each member's cosine to the clean face, 0 at its match threshold, 1 at the clean
 * face). This places every person's mask on every measured photo and prints how that number differs between a
 * person's own mask and everyone else's, and for a few cut-offs how many faces of each kind would start from the mask.
 *
 *   npx tsx bench/protection/mask-fit.ts [--strength mid] [--limit-per-identity 4] [--identities LIST] [--faces DIR]
 *       [--reference]
 *
 * --reference: also place one pattern learned from none of these people (cloakers.ts `universalStart`: every face of
 * face-api's demo photos) on each photo, and judge the masks by how much further than it they move the face: a
 * photo that any pattern moves far is then not mistaken for the mask's person.
 *
 * Masks are the protection benchmark's (cloakers.ts `personalMasks`: learned from each person's last four photos,
 * cached in the temp folder); the photos measured are each person's first ones, none of which a mask was learned from.
 * Prints a table and one JSON line starting {"bench":"mask-fit".
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { useBackend } from '../../src/engine/backends/backends.ts';
import type { Strength } from '../../src/engine/cloak/cloak.ts';
import { createCloakEngine } from '../../src/engine/cloak/engine.ts';
import type { PersonalMask } from '../../src/engine/cloak/personal-mask-format.ts';
import { decodeImageNode } from '../../src/engine/image/decode-node.ts';
import { readModelFileNode } from '../../src/engine/models/read-node.ts';
import { defaultFacesDir, loadFixtures, readPhoto, selectPhotos } from '../lib/fixtures.ts';
import { mean, quantile } from '../lib/stats.ts';
import { formatTable, num } from '../lib/table.ts';
import { cloakEnsembles, maskPhotoCount, personalMasks, universalStart } from './cloakers.ts';

const { values } = parseArgs({
  options: {
    strength: { type: 'string', default: 'mid' },
    'limit-per-identity': { type: 'string', default: '4' },
    identities: { type: 'string' },
    faces: { type: 'string' },
    reference: { type: 'boolean', default: false },
  },
});
const strength = values.strength as Strength;
if (!['low', 'mid', 'high'].includes(strength)) throw new Error(`--strength must be low, mid or high, not ${values.strength}`);
const facesDir = values.faces ?? defaultFacesDir();
const limit = Number(values['limit-per-identity']);
const { ensemble } = cloakEnsembles.xmobileface!;

await useBackend(['wasm']);
const engine = await createCloakEngine(readModelFileNode, { ensemble });
try {
  const fixtures = await loadFixtures(facesDir);
  const masks = await personalMasks(engine, facesDir, { strength });
  const reference = values.reference ? await universalStart(engine, { strength }) : null;
  const chosen = values.identities?.split(',').map((id) => id.trim());
  const perIdentity = new Map<string, number>();
  for (const photo of fixtures.photos) perIdentity.set(photo.identity, (perIdentity.get(photo.identity) ?? 0) + 1);
  // A person needs photos to measure that are not the ones their mask is learned from.
  const identities = (chosen ?? [...perIdentity.keys()]).filter((id) => (perIdentity.get(id) ?? 0) >= limit + maskPhotoCount).sort();
  const photos = selectPhotos(fixtures.photos, identities, limit);
  // Only the start is measured: one refinement step (the least the engine takes), every face kept on its mask.
  const budget = { maskSteps: 1, maskMaxStartSimilarity: undefined };

  const rows: { id: string; identity: string; own: number; others: number[]; reference?: number }[] = [];
  for (const [index, photo] of photos.entries()) {
    const bytes = await readPhoto(facesDir, photo);
    if (masks.learnedFrom.has(createHash('sha256').update(bytes).digest('hex'))) throw new Error(`${photo.id} is one its mask was learned from`);
    const image = await decodeImageNode(bytes);
    const startFrom = async (personalMask: PersonalMask) => {
      const outcome = await engine.cloak(image, { strength, personalMask, seed: index, budget });
      // The photo's person is its largest face.
      const face = [...outcome.faces].sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height)[0];
      return face?.startSimilarity ?? NaN;
    };
    const startOf = async (identity: string) => startFrom(await masks.maskFor(identity));
    const row: (typeof rows)[number] = { id: photo.id, identity: photo.identity, own: await startOf(photo.identity), others: [] };
    for (const other of identities) if (other !== photo.identity) row.others.push(await startOf(other));
    if (reference) row.reference = await startFrom(reference);
    rows.push(row);
    console.log(`[${index + 1}/${photos.length}] ${photo.id}: own mask ${num(row.own)}, others ${row.others.map((v) => num(v)).join(' ')}`);
  }

  const own = rows.map((r) => r.own).filter(Number.isFinite);
  const others = rows.flatMap((r) => r.others).filter(Number.isFinite);
  const share = (list: number[], cut: number) => list.filter((v) => v <= cut).length / list.length;
  const cuts = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
  console.log(`\n${strength}, ensemble ${ensemble.join(' + ')}, ${rows.length} photos of ${identities.length} people, ${others.length} face-mask pairs of different people\n`);
  console.log(
    formatTable(
      ['mask on the face', 'mean', 'min', '10 %', 'median', '90 %', 'max'],
      [
        ['own', own],
        ["another person's", others],
      ].map(([name, list]) => {
        const l = list as number[];
        return [name as string, num(mean(l)), num(Math.min(...l)), num(quantile(l, 0.1)), num(quantile(l, 0.5)), num(quantile(l, 0.9)), num(Math.max(...l))];
      }),
    ),
  );
  console.log('');
  console.log(
    formatTable(
      ['start from the mask when similarity <=', 'own faces', "others' faces"],
      cuts.map((cut) => [String(cut), `${Math.round(100 * share(own, cut))} %`, `${Math.round(100 * share(others, cut))} %`]),
    ),
  );
  let byReference: Record<string, { own: number; others: number }> | undefined;
  if (reference) {
    // How much further than the reference pattern each mask moves the face (negative: further).
    const ownGap = rows.map((r) => r.own - r.reference!).filter(Number.isFinite);
    const otherGaps = rows.flatMap((r) => r.others.map((v) => v - r.reference!)).filter(Number.isFinite);
    const gapCuts = [-0.4, -0.3, -0.2, -0.15, -0.1, -0.05, 0];
    byReference = Object.fromEntries(gapCuts.map((cut) => [cut, { own: share(ownGap, cut), others: share(otherGaps, cut) }]));
    const referenced = rows.map((r) => r.reference!).filter(Number.isFinite);
    console.log(`\nreference pattern: start similarity mean ${num(mean(referenced))}, median ${num(quantile(referenced, 0.5))}\n`);
    console.log(
      formatTable(
        ['start from the mask when it is below the reference by >=', 'own faces', "others' faces"],
        gapCuts.map((cut) => [String(-cut), `${Math.round(100 * share(ownGap, cut))} %`, `${Math.round(100 * share(otherGaps, cut))} %`]),
      ),
    );
  }
  console.log(
    JSON.stringify({
      bench: 'mask-fit',
      strength,
      ensemble,
      photos: rows.length,
      people: identities.length,
      own: { mean: mean(own), median: quantile(own, 0.5) },
      others: { mean: mean(others), median: quantile(others, 0.5) },
      fromMask: Object.fromEntries(cuts.map((cut) => [cut, { own: share(own, cut), others: share(others, cut) }])),
      ...(byReference ? { byReference } : {}),
      rows,
    }),
  );
} finally {
  engine.dispose();
}
