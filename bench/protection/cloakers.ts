/**
 * Pluggable cloakers for the protection benchmark. A cloaker sees only the original file bytes and returns the
 * cloaked FILE bytes, as they would be posted; the measuring side gets nothing else from it.
 *
 * To plug in another cloaker (the real cloak engine), add a factory to `cloakerFactories`.
 */
import { type StrengthSetting, defaultMomentumDecay, strengthSettings, type TransformSampler } from '../../src/engine/cloak/cloak.ts';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transformSync } from 'esbuild';
import { type CloakEngine, type Decoy, createCloakEngine, defaultMaskLearnStepsPerPhoto } from '../../src/engine/cloak/engine.ts';
import { learnMaskReference, maskReferencePhotos } from '../../src/engine/cloak/mask-reference-node.ts';
import { type PersonalMask, maskFrame } from '../../src/engine/cloak/personal-mask-format.ts';
import { cosineSimilarity } from '../../src/engine/faces/similarity.ts';
import type { Box, RecognizerId } from '../../src/engine/faces/types.ts';
import { createFaceDetector } from '../../src/engine/detect/detector.ts';
import { decodeImageNode } from '../../src/engine/image/decode-node.ts';
import { encodeImageNode } from '../../src/engine/image/encode-node.ts';
import type { RgbImage } from '../../src/engine/image/types.ts';
import type { ModelFileReader } from '../../src/engine/models/manifest.ts';
import { loadFixtures, readPhoto } from '../lib/fixtures.ts';
import { mulberry32 } from '../lib/prng.ts';

export interface CloakInfo {
  /** Seed for anything random in the cloak; the benchmark derives it from the photo, so a photo is cloaked once. */
  seed: number;
  /**
   * Who the photo shows. Only targeted cloakers read it: a person cloaking their photos uses one decoy for all of
   * them, so the decoy is chosen per identity.
   */
  identity?: string;
}

export interface Cloaker {
  id: string;
  describe: string;
  cloak(file: Uint8Array, info: CloakInfo): Promise<Uint8Array>;
  dispose?(): void;
}

/** The clean baseline: the original bytes, untouched. */
export const noneCloaker: Cloaker = {
  id: 'none',
  describe: 'no cloak: the original file bytes unchanged (clean baseline)',
  cloak: async (file) => file,
};

export interface NoiseCloakerOptions {
  /** L-inf bound in 8-bit levels (default 8, i.e. 8/255 of the range). */
  epsilon?: number;
  /** Where the noise goes: the detected face boxes (default) or the whole photo. */
  region?: 'faces' | 'whole';
  /** Finds the faces to cover; required for region 'faces'. */
  findFaces?: (image: RgbImage) => Promise<Box[]>;
  /** Each face box grows by this fraction of its width / height on every side (default 0.2). */
  boxMargin?: number;
  /** JPEG quality of the output (default 92; 4:4:4 chroma). */
  quality?: number;
}

/** Per-pixel mask (1 = noised) of the union of the boxes grown by `margin`, clamped to the image. */
export function boxMask(width: number, height: number, boxes: readonly Box[], margin: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (const b of boxes) {
    const x0 = Math.max(0, Math.floor(b.x - b.width * margin));
    const y0 = Math.max(0, Math.floor(b.y - b.height * margin));
    const x1 = Math.min(width, Math.ceil(b.x + b.width * (1 + margin)));
    const y1 = Math.min(height, Math.ceil(b.y + b.height * (1 + margin)));
    for (let y = y0; y < y1; y++) mask.fill(1, y * width + x0, y * width + Math.max(x0, x1));
  }
  return mask;
}

/**
 * Adds uniform noise in [-epsilon, +epsilon] to every channel of every masked pixel, rounds and clamps to 0..255
 * (so |change| <= epsilon before encoding). Returns a new image.
 */
export function addUniformNoise(image: RgbImage, mask: Uint8Array | null, epsilon: number, seed: number): RgbImage {
  const random = mulberry32(seed);
  const data = new Uint8Array(image.data);
  const pixels = image.width * image.height;
  for (let p = 0; p < pixels; p++) {
    if (mask && mask[p] === 0) continue;
    for (let c = 0; c < 3; c++) {
      const i = p * 3 + c;
      const v = Math.round(data[i] + (random() * 2 - 1) * epsilon);
      data[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width: image.width, height: image.height, data };
}

/** A control: random noise of a cloak's size, which should protect little. */
export function createNoiseCloaker(options: NoiseCloakerOptions = {}): Cloaker {
  const epsilon = options.epsilon ?? 8;
  const region = options.region ?? 'faces';
  const margin = options.boxMargin ?? 0.2;
  const quality = options.quality ?? 92;
  if (region === 'faces' && !options.findFaces) throw new Error('noise cloaker on faces needs findFaces');
  return {
    id: 'noise',
    describe:
      `uniform noise in ±${epsilon}/255 (L-inf) on ${region === 'faces' ? `the detected face boxes grown by ${margin * 100}% per side (the whole photo when no face is found)` : 'the whole photo'}` +
      `, seeded per photo, re-encoded as JPEG q${quality} 4:4:4`,
    async cloak(file, info) {
      const image = await decodeImageNode(file);
      let mask: Uint8Array | null = null;
      if (region === 'faces') {
        const boxes = await options.findFaces!(image);
        if (boxes.length > 0) mask = boxMask(image.width, image.height, boxes, margin);
      }
      const noisy = addUniformNoise(image, mask, epsilon, info.seed);
      return encodeImageNode(noisy, 'jpeg', { quality });
    },
  };
}

export interface CloakerContext {
  readModelFile: ModelFileReader;
  /** L-inf bound for the noise control, in 8-bit levels. */
  noiseEpsilon: number;
  /** The cloak engine's per-step transformation; the engine's default sampler when absent, null for none. */
  sampleTransform?: TransformSampler | null;
  /** Overrides of the strengths' budget, for sweeps. */
  budget?: Partial<StrengthSetting>;
  /** The fixtures folder, where targeted cloakers find their decoy photos. */
  facesDir?: string;
}

/** Every cloaker the benchmark can run, by id. */
export const cloakerFactories: Record<string, (ctx: CloakerContext) => Promise<Cloaker>> = {
  none: async () => noneCloaker,
  async noise(ctx) {
    // Its own detector instance: the cloaking side shares no state with the measuring side.
    const detector = await createFaceDetector(ctx.readModelFile);
    const cloaker = createNoiseCloaker({
      epsilon: ctx.noiseEpsilon,
      region: 'faces',
      findFaces: async (image) => (await detector.detect(image)).map((f) => f.box),
    });
    return { ...cloaker, dispose: () => detector.dispose() };
  },
};

/**
 * The cloak engine as cloakers, one per strength and ensemble. The zoo has one FaceNet-style recognizer
 * (faceapi-resnet), three ArcFace-style ones of separate training (human-mobileface, expo-mobilefacenet,
 * faceplugin-mobilefacenet) and the two FaceRes siblings. Every protection number is read on recognizers the cloak
 * never saw; faceplugin-mobilefacenet is in no ensemble, a judge only:
 * - xmobileface, the shipped ensemble (engine.ts `productEnsemble`): faceapi-resnet, human-mobileface and
 *   faceplugin-mobilefacenet held out;
 * - xfacenet, the ensemble shipped until 2026-12-06 (human-mobileface in expo-mobilefacenet's place): faceapi-resnet
 *   and expo-mobilefacenet held out, so the zoo's strongest recognizer is measured as a judge too;
 * - xarcface: faceapi-resnet joins, human-mobileface and expo-mobilefacenet held out;
 * - the "-plus" ensembles add expo-mobilefacenet as a fourth member, to measure what one more recognizer buys on the
 *   ones still held out;
 * - the "whitebox-" ensembles are one held-out judge alone, attacked directly: not protection (nothing is held out)
 *   but its ceiling, what the strength's perceptual budget allows on that model when the cloak sees its every
 *   gradient. No transfer trick can beat it, so it says whether a protection target is reachable at that budget at all.
 */
export const cloakEnsembles: Record<string, { ensemble: RecognizerId[]; heldOut: RecognizerId[] }> = {
  xfacenet: {
    ensemble: ['human-faceres', 'human-faceres-deep', 'human-mobileface'],
    heldOut: ['faceapi-resnet', 'expo-mobilefacenet', 'faceplugin-mobilefacenet'],
  },
  xarcface: {
    ensemble: ['human-faceres', 'human-faceres-deep', 'faceapi-resnet'],
    heldOut: ['human-mobileface', 'expo-mobilefacenet', 'faceplugin-mobilefacenet'],
  },
  xmobileface: {
    ensemble: ['human-faceres', 'human-faceres-deep', 'expo-mobilefacenet'],
    heldOut: ['faceapi-resnet', 'human-mobileface', 'faceplugin-mobilefacenet'],
  },
  'xfacenet-plus': {
    ensemble: ['human-faceres', 'human-faceres-deep', 'human-mobileface', 'expo-mobilefacenet'],
    heldOut: ['faceapi-resnet', 'faceplugin-mobilefacenet'],
  },
  'xarcface-plus': {
    ensemble: ['human-faceres', 'human-faceres-deep', 'faceapi-resnet', 'expo-mobilefacenet'],
    heldOut: ['human-mobileface', 'faceplugin-mobilefacenet'],
  },
  'whitebox-mobileface': { ensemble: ['human-mobileface'], heldOut: [] },
  'whitebox-faceplugin': { ensemble: ['faceplugin-mobilefacenet'], heldOut: [] },
  'whitebox-faceapi': { ensemble: ['faceapi-resnet'], heldOut: [] },
};

/** Mean over the ensemble of the cosine between two decoys' embeddings. */
function decoySimilarity(a: Decoy, b: Decoy, ensemble: readonly RecognizerId[]): number {
  return ensemble.reduce((sum, id) => sum + cosineSimilarity(a.embeddings[id]!, b.embeddings[id]!), 0) / ensemble.length;
}

export interface ChosenDecoy {
  /** Whose face the decoy is, and the fixture it was made from. */
  identity: string;
  file: string;
  decoy: Decoy;
}

/**
 * One decoy per person for targeted cloakers, as a person would keep one: each identity's last photo (by id) stands
 * for it, and a person's decoy is that photo of the other identity least like theirs to the cloak's ensemble (the
 * held-out judges play no part). `--limit-per-identity` measures each person's first photos, so with it neither the
 * reference nor the decoy photo is one the benchmark measures.
 */
export async function decoyChooser(engine: Pick<CloakEngine, 'ensemble' | 'makeDecoy'>, facesDir: string): Promise<(identity: string) => ChosenDecoy> {
  const fixtures = await loadFixtures(facesDir);
  const last = new Map<string, (typeof fixtures.photos)[number]>();
  for (const photo of fixtures.photos) last.set(photo.identity, photo);
  const references = new Map<string, Decoy>();
  for (const [identity, photo] of last) references.set(identity, await engine.makeDecoy(await decodeImageNode(await readPhoto(facesDir, photo))));
  const chosen = new Map<string, ChosenDecoy>();
  return (identity) => {
    const own = references.get(identity);
    if (!own) throw new Error(`no reference photo for identity ${identity}`);
    let choice = chosen.get(identity);
    if (!choice) {
      let best = Infinity;
      for (const [other, candidate] of references) {
        const similarity = other === identity ? Infinity : decoySimilarity(own, candidate, engine.ensemble);
        if (similarity < best) [best, choice] = [similarity, { identity: other, file: last.get(other)!.file, decoy: candidate }];
      }
      if (!choice) throw new Error('targeted cloaking needs at least two identities');
      chosen.set(identity, choice);
    }
    return choice;
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What a mask is learned from and with: the photos (sha256), the ensemble, the settings (`learnedWith`). */
interface MaskInputs {
  photos: string[];
  ensemble: readonly RecognizerId[];
  learn: ReturnType<typeof learnedWith>;
}

/**
 * The code that learns a mask, so a cached mask from older code is not reused: compiled by esbuild, which drops the
 * comments, so that editing a comment (cloak.ts holds the measurements) does not cost every person's mask again.
 */
const maskCode = ['personal-mask.ts', 'personal-mask-format.ts', 'cloak.ts', 'transforms.ts'].map(
  (name) => transformSync(readFileSync(new URL(`../../src/engine/cloak/${name}`, import.meta.url), 'utf8'), { loader: 'ts' }).code,
);

/**
 * Learning a mask costs about as much as cloaking its photos, and every worker process (and every sweep of the
 * refinement) needs the same ones: the first to need a mask learns it and leaves it in the temp folder, keyed by its
 * inputs and the code that learns it; the others wait for it there.
 */
async function learnedOnce(name: string, inputs: MaskInputs, learn: () => Promise<PersonalMask>): Promise<PersonalMask> {
  const key = createHash('sha256').update(JSON.stringify({ ...inputs, frame: maskFrame, code: maskCode })).digest('hex').slice(0, 24);
  const dir = join(tmpdir(), 'face-cloak-mask-cache');
  await mkdir(dir, { recursive: true });
  const done = join(dir, `${name}-${key}.json`);
  const lock = join(dir, `${name}-${key}.lock`);
  for (;;) {
    const cached = await readFile(done, 'utf8').catch(() => null);
    if (cached !== null) return JSON.parse(cached) as PersonalMask;
    const claimed = await writeFile(lock, String(process.pid), { flag: 'wx' }).then(() => true, () => false);
    if (claimed) {
      try {
        const mask = await learn();
        await writeFile(`${done}.part`, JSON.stringify(mask));
        await rename(`${done}.part`, done);
        return mask;
      } finally {
        await rm(lock, { force: true });
      }
    }
    // A lock left by a process that died (a cancelled run) would make everyone wait forever.
    const holder = Number(await readFile(lock, 'utf8').catch(() => 'NaN'));
    if (Number.isInteger(holder) && !isAlive(holder)) await rm(lock, { force: true });
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

/**
 * The settings a mask is learned under, for the cache key: the strength's budget with the sweep's overrides and the
 * engine's defaults filled in, less the refinement's settings (sweeps of the refinement share masks).
 */
function learnedWith(learn: { strength: 'low' | 'mid' | 'high'; budget?: Partial<StrengthSetting> }) {
  const { maskSteps: _refinement, maskMaxStartSimilarity: _fit, maskLeadOverReference: _reference, ...settings } = { ...strengthSettings[learn.strength], ...learn.budget };
  return { ...settings, maskLearnStepsPerPhoto: settings.maskLearnStepsPerPhoto ?? defaultMaskLearnStepsPerPhoto };
}

/**
 * One start pattern for everyone: the engine's reference pattern (src/engine/cloak/mask-reference-node.ts, every face
 * of face-api's six demo photos, none of them a fixture identity) learned against this engine's ensemble and budget,
 * cached like the personal masks. For the product ensemble at mid it is what models/mask-reference.json ships, when
 * the code that learns masks has not changed since the file was made.
 */
export async function universalStart(
  engine: Pick<CloakEngine, 'learnPersonalMask' | 'ensemble'>,
  learn: { strength: 'low' | 'mid' | 'high'; budget?: Partial<StrengthSetting> },
): Promise<PersonalMask> {
  const bytes = await Promise.all(maskReferencePhotos.map((file) => readFile(file)));
  const inputs = { photos: bytes.map((b) => createHash('sha256').update(b).digest('hex')), ensemble: engine.ensemble, learn: learnedWith(learn) };
  return learnedOnce('universal', inputs, () => learnMaskReference(engine, learn));
}

/** How many photos of a person their personal mask is learned from. */
export const maskPhotoCount = 4;

/**
 * One personal mask per person for the "-mask" cloakers, as a person would learn one: from each identity's last
 * `maskPhotoCount` photos (by id). `--limit-per-identity` measures each person's first photos, so with a limit that
 * leaves them out, no photo the benchmark measures (cloaked gallery or clean probe) is one the mask was learned from;
 * the cloaker refuses to cloak a photo it learned from. The "-mask-of-another" control starts each photo from the next
 * identity's mask instead: what is left of the effect when the mask is not the person's own.
 */
export async function personalMasks(
  engine: Pick<CloakEngine, 'learnPersonalMask' | 'ensemble'>,
  facesDir: string,
  learn: { strength: 'low' | 'mid' | 'high'; budget?: Partial<StrengthSetting> },
): Promise<{ maskFor(identity: string): Promise<PersonalMask>; otherThan(identity: string): string; learnedFrom: Set<string> }> {
  const fixtures = await loadFixtures(facesDir);
  const byIdentity = new Map<string, (typeof fixtures.photos)[number][]>();
  for (const photo of fixtures.photos) byIdentity.set(photo.identity, [...(byIdentity.get(photo.identity) ?? []), photo]);
  const learnedFrom = new Set<string>();
  for (const photos of byIdentity.values()) {
    for (const photo of photos.sort((a, b) => a.id.localeCompare(b.id)).slice(-maskPhotoCount)) learnedFrom.add(photo.sha256);
  }
  const masks = new Map<string, Promise<PersonalMask>>();
  const identities = [...byIdentity.keys()].sort();
  return {
    learnedFrom,
    otherThan: (identity) => identities[(identities.indexOf(identity) + 1) % identities.length],
    maskFor(identity) {
      let mask = masks.get(identity);
      if (!mask) {
        const photos = byIdentity.get(identity)?.slice(-maskPhotoCount);
        if (!photos) throw new Error(`no photos of identity ${identity} to learn a mask from`);
        const inputs = { photos: photos.map((p) => p.sha256), ensemble: engine.ensemble, learn: learnedWith(learn) };
        mask = learnedOnce(identity, inputs, async () => {
          const images = [];
          for (const photo of photos) images.push(await decodeImageNode(await readPhoto(facesDir, photo)));
          return engine.learnPersonalMask(images, { ...learn, seed: 1 });
        });
        masks.set(identity, mask);
      }
      return mask;
    },
  };
}

const cloakVariants = (['low', 'mid', 'high'] as const).flatMap((strength) =>
  Object.entries(cloakEnsembles).flatMap(([name, members]) =>
    (['untargeted', 'targeted', 'mask', 'mask-of-another', 'universal'] as const).map((mode) => ({ strength, name, mode, ...members })),
  ),
);

for (const { strength, name, mode, ensemble, heldOut } of cloakVariants) {
  const id = `cloak-${strength}-${name}${mode === 'untargeted' ? '' : `-${mode}`}`;
  cloakerFactories[id] = async (ctx) => {
    let engine = await createCloakEngine(ctx.readModelFile, { ensemble, sampleTransform: ctx.sampleTransform });
    if ((mode === 'mask' || mode === 'mask-of-another') && engine.maskReference === null) {
      // The shipped reference pattern is the product ensemble's; the others get the same recipe learned against them.
      const maskReference = await universalStart(engine, { strength, budget: ctx.budget });
      engine.dispose();
      engine = await createCloakEngine(ctx.readModelFile, { ensemble, sampleTransform: ctx.sampleTransform, maskReference });
    }
    const budget = { ...strengthSettings[strength], ...ctx.budget };
    let decoyFor: ((identity: string) => ChosenDecoy) | null = null;
    if (mode === 'targeted') {
      if (!ctx.facesDir) throw new Error(`${id} needs the fixtures folder for its decoys`);
      decoyFor = await decoyChooser(engine, ctx.facesDir);
    }
    let universal: PersonalMask | null = null;
    if (mode === 'universal') universal = await universalStart(engine, { strength, budget: ctx.budget });
    let masks: Awaited<ReturnType<typeof personalMasks>> | null = null;
    if (mode === 'mask' || mode === 'mask-of-another') {
      if (!ctx.facesDir) throw new Error(`${id} needs the fixtures folder to learn its personal masks`);
      masks = await personalMasks(engine, ctx.facesDir, { strength, budget: ctx.budget });
    }
    return {
      id,
      describe:
        (mode === 'targeted'
          ? `targeted (pulled toward one decoy per person: the least similar other identity's last photo, weight ${budget.decoyWeight ?? 1}), `
          : '') +
        (mode === 'mask-of-another' ? 'a control: from the personal mask of another person (the next identity by name), ' : '') +
        (mode === 'universal'
          ? `from one start pattern learned from every face of face-api's six demo photos (none of the fixtures' people; ${budget.maskLearnStepsPerPhoto ?? defaultMaskLearnStepsPerPhoto} steps per face), refined for ${budget.maskSteps ?? budget.steps} steps, `
          : '') +
        (mode === 'mask' || mode === 'mask-of-another'
          ? `from a personal mask learned per person from their last ${maskPhotoCount} photos (${budget.maskLearnStepsPerPhoto ?? defaultMaskLearnStepsPerPhoto} steps per photo), refined for ${budget.maskSteps ?? budget.steps} steps, `
          : '') +
        `the cloak engine at ${strength} (L-inf ${budget.epsilon}/255, ${budget.flatShare} of it on flat skin, face SSIM >= ` +
        `${budget.minFaceSsim}, ${budget.steps} steps, grid ${budget.coarseness}x coarser, feature-level term x${budget.featureWeight}, ` +
        `SSIM term x${budget.ssimWeight}, colour <= ${budget.chromaShare ?? 1} of the budget, last step ${budget.lastStepShare ?? 1} of the first, momentum ${budget.momentumDecay ?? defaultMomentumDecay}) against ${ensemble.join(' + ')}; ` +
        (heldOut.length > 0
          ? `held out, the only honest judges: ${heldOut.join(', ')}; `
          : 'nothing held out: a white-box ceiling on its one model, not protection; ') +
        're-encoded as JPEG q92 4:4:4 (PNG stays PNG)',
      async cloak(file, info) {
        const image = await decodeImageNode(file);
        let decoy: Decoy | undefined;
        if (decoyFor) {
          if (!info.identity) throw new Error(`${id}: targeted cloaking needs to know whose photo this is`);
          decoy = decoyFor(info.identity).decoy;
        }
        let personalMask: PersonalMask | undefined = universal ?? undefined;
        if (masks) {
          if (!info.identity) throw new Error(`${id}: a personal mask needs to know whose photo this is`);
          if (masks.learnedFrom.has(createHash('sha256').update(file).digest('hex'))) {
            throw new Error(`${id}: asked to cloak a photo its personal mask was learned from; measure fewer photos per identity`);
          }
          personalMask = await masks.maskFor(mode === 'mask' ? info.identity : masks.otherThan(info.identity));
        }
        const outcome = await engine.cloak(image, {
          strength,
          mode: mode === 'targeted' ? 'targeted' : 'untargeted',
          decoy,
          personalMask,
          seed: info.seed,
          budget: ctx.budget,
        });
        return encodeImageNode(outcome.image, image.format === 'png' ? 'png' : 'jpeg', { quality: 92 });
      },
      dispose: () => engine.dispose(),
    };
  };
}

export async function createCloakers(ids: readonly string[], ctx: CloakerContext): Promise<Cloaker[]> {
  const unknown = ids.filter((id) => !(id in cloakerFactories));
  if (unknown.length > 0) {
    throw new Error(`unknown cloaker(s) ${unknown.join(', ')}; known: ${Object.keys(cloakerFactories).join(', ')}`);
  }
  const out: Cloaker[] = [];
  for (const id of ids) out.push(await cloakerFactories[id](ctx));
  return out;
}
