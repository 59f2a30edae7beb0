/**
 * Does a personal mask tell its own person from other people in the photo? A face should start from the mask only
 * when the mask is that face's (cloak.ts `startFit`). The engine's test uses the face's ensemble similarity as started
 * from the mask (`startSimilarity`: each member's cosine to the clean face, 0 at its match threshold, 1 at the clean
 * face), against a cap (`maskMaxStartSimilarity`) and against the same number for the engine's reference pattern
 * (`referenceSimilarity`, models/mask-reference.json: learned from none of these people; `maskLeadOverReference`).
 * This places every person's mask on every measured photo and prints how those numbers differ between a person's own
 * mask and everyone else's, how many faces of each kind a few other cut-offs would start from the mask, and how many
 * the strength's own settings do.
 *
 *   npx tsx bench/protection/mask-fit.ts [--strength mid] [--limit-per-identity 4] [--identities LIST] [--faces DIR]
 *       [--mask-learn-steps N]
 *
 * --mask-learn-steps: steps per photo learning the masks (the strength's, or engine.ts's default, when absent); the
 * protection bench's `--cloak-budget masklearn=N` learns (and caches) the same masks.
 *
 * Masks are the protection benchmark's (cloakers.ts `personalMasks`: learned from each person's last four photos,
 * cached in the temp folder); the photos measured are each person's first ones, none of which a mask was learned from.
 * Prints tables and one JSON line starting {"bench":"mask-fit".
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { useBackend } from '../../src/engine/backends/backends.ts';
import { type Strength, strengthSettings } from '../../src/engine/cloak/cloak.ts';
import { createCloakEngine } from '../../src/engine/cloak/engine.ts';
import { decodeImageNode } from '../../src/engine/image/decode-node.ts';
import { readModelFileNode } from '../../src/engine/models/read-node.ts';
import { defaultFacesDir, loadFixtures, readPhoto, selectPhotos } from '../lib/fixtures.ts';
import { mean, quantile } from '../lib/stats.ts';
import { formatTable, num } from '../lib/table.ts';
import { cloakEnsembles, maskPhotoCount, personalMasks } from './cloakers.ts';

const { values } = parseArgs({
  options: {
    strength: { type: 'string', default: 'mid' },
    'limit-per-identity': { type: 'string', default: '4' },
    'mask-learn-steps': { type: 'string' },
    identities: { type: 'string' },
    faces: { type: 'string' },
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
  const learnSteps = values['mask-learn-steps'] === undefined ? undefined : Number(values['mask-learn-steps']);
  if (learnSteps !== undefined && !(Number.isInteger(learnSteps) && learnSteps > 0)) {
    throw new Error(`--mask-learn-steps must be a whole number above 0, not ${values['mask-learn-steps']}`);
  }
  const masks = await personalMasks(engine, facesDir, { strength, ...(learnSteps ? { budget: { maskLearnStepsPerPhoto: learnSteps } } : {}) });
  if (!engine.maskReference) throw new Error(`no reference pattern for ${ensemble.join(' + ')}: run scripts/learn-mask-reference.ts`);
  const { maskMaxStartSimilarity, maskLeadOverReference } = strengthSettings[strength];
  const chosen = values.identities?.split(',').map((id) => id.trim());
  const perIdentity = new Map<string, number>();
  for (const photo of fixtures.photos) perIdentity.set(photo.identity, (perIdentity.get(photo.identity) ?? 0) + 1);
  // A person needs photos to measure that are not the ones their mask is learned from.
  const identities = (chosen ?? [...perIdentity.keys()]).filter((id) => (perIdentity.get(id) ?? 0) >= limit + maskPhotoCount).sort();
  const photos = selectPhotos(fixtures.photos, identities, limit);
  // Only the start is measured: one step (the least the engine takes) whether the face keeps the mask or not.
  const budget = { steps: 1, maskSteps: 1 };

  interface Start {
    similarity: number;
    /** The strength's own decision. */
    kept: boolean;
  }
  const rows: { id: string; identity: string; reference: number; own: Start; others: Start[] }[] = [];
  for (const [index, photo] of photos.entries()) {
    const bytes = await readPhoto(facesDir, photo);
    if (masks.learnedFrom.has(createHash('sha256').update(bytes).digest('hex'))) throw new Error(`${photo.id} is one its mask was learned from`);
    const image = await decodeImageNode(bytes);
    let reference = NaN;
    const startOf = async (identity: string): Promise<Start> => {
      const outcome = await engine.cloak(image, { strength, personalMask: await masks.maskFor(identity), seed: index, budget });
      // The photo's person is its largest face.
      const face = [...outcome.faces].sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height)[0];
      reference = face?.referenceSimilarity ?? NaN;
      return { similarity: face?.startSimilarity ?? NaN, kept: face?.fromStart ?? false };
    };
    const own = await startOf(photo.identity);
    const others: Start[] = [];
    for (const other of identities) if (other !== photo.identity) others.push(await startOf(other));
    rows.push({ id: photo.id, identity: photo.identity, reference, own, others });
    const show = (start: Start) => `${num(start.similarity)}${start.kept ? '*' : ''}`;
    console.log(`[${index + 1}/${photos.length}] ${photo.id}: reference ${num(reference)}, own mask ${show(own)}, others ${others.map(show).join(' ')} (* kept)`);
  }

  const own = rows.map((r) => r.own.similarity).filter(Number.isFinite);
  const others = rows.flatMap((r) => r.others.map((o) => o.similarity)).filter(Number.isFinite);
  const referenced = rows.map((r) => r.reference).filter(Number.isFinite);
  // How much further than the reference pattern each mask moves the face (negative: further).
  const ownGaps = rows.map((r) => r.own.similarity - r.reference).filter(Number.isFinite);
  const otherGaps = rows.flatMap((r) => r.others.map((o) => o.similarity - r.reference)).filter(Number.isFinite);
  const share = (list: number[], cut: number) => list.filter((v) => v <= cut).length / list.length;
  const percent = (fraction: number) => `${Math.round(100 * fraction)} %`;
  const cuts = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
  const gapCuts = [-0.3, -0.2, -0.15, -0.1, -0.05, 0];
  console.log(`\n${strength}, ensemble ${ensemble.join(' + ')}, ${rows.length} photos of ${identities.length} people, ${others.length} face-mask pairs of different people\n`);
  console.log(
    formatTable(
      ['start similarity from', 'mean', 'min', '10 %', 'median', '90 %', 'max'],
      [
        ['own mask', own],
        ["another person's mask", others],
        ['the reference pattern', referenced],
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
      cuts.map((cut) => [String(cut), percent(share(own, cut)), percent(share(others, cut))]),
    ),
  );
  console.log('');
  console.log(
    formatTable(
      ['... when below the reference by >=', 'own faces', "others' faces"],
      gapCuts.map((cut) => [String(-cut), percent(share(ownGaps, cut)), percent(share(otherGaps, cut))]),
    ),
  );
  const keptOwn = rows.filter((r) => r.own.kept).length / rows.length;
  const otherStarts = rows.flatMap((r) => r.others);
  const keptOthers = otherStarts.filter((o) => o.kept).length / otherStarts.length;
  console.log(
    `\n${strength}'s own test (similarity <= ${maskMaxStartSimilarity ?? 'any'}, below the reference by >= ${maskLeadOverReference ?? 'no test'}): ` +
      `own faces ${percent(keptOwn)}, others' faces ${percent(keptOthers)} start from the mask`,
  );
  console.log(
    JSON.stringify({
      bench: 'mask-fit',
      strength,
      maskLearnStepsPerPhoto: learnSteps ?? null,
      ensemble,
      photos: rows.length,
      people: identities.length,
      own: { mean: mean(own), median: quantile(own, 0.5) },
      others: { mean: mean(others), median: quantile(others, 0.5) },
      reference: { mean: mean(referenced), median: quantile(referenced, 0.5) },
      fromMask: Object.fromEntries(cuts.map((cut) => [cut, { own: share(own, cut), others: share(others, cut) }])),
      byReference: Object.fromEntries(gapCuts.map((cut) => [cut, { own: share(ownGaps, cut), others: share(otherGaps, cut) }])),
      strengthTest: { maskMaxStartSimilarity, maskLeadOverReference, own: keptOwn, others: keptOthers },
      rows,
    }),
  );
} finally {
  engine.dispose();
}
