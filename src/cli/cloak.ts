/**
 * Batch cloaking from the command line, with the same engine the extension runs:
 *
 *   npm run cloak -- <file or folder ...> --out <dir> [--strength low|mid|high] [--seed N]
 *                    [--mode targeted --decoy <photo of someone else>] [--mask <personal mask file>]
 *   npm run cloak -- <photos of one person ...> --learn-mask <personal mask file> [--strength ...]
 *
 * Each photo is written to --out under its own name, same size and format (JPEG stays JPEG at quality 92 with full
 * chroma, PNG stays PNG with its alpha, WebP stays WebP); EXIF orientation is applied and no metadata (GPS included)
 * is written. A file that cannot be read is reported and skipped; the others go on.
 *
 * Targeted mode pulls every face toward the face in the decoy photo (one decoy for all of a person's photos, so a
 * gallery of them points at one wrong identity); the decoy should be someone who agrees to it, or a generated face.
 *
 * A personal mask (engine personal-mask.ts) is learned once from a few photos of one person (the largest face in
 * each) and written as a small JSON file; cloaks given `--mask` start each face it fits from it and refine it for the
 * strength's `maskSteps` instead of `steps` (the others from noise, as without a mask).
 */
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { useBackend } from '../engine/backends/backends.ts';
import type { Strength } from '../engine/cloak/cloak.ts';
import { type CloakMode, type CloakedFace, type Decoy, createCloakEngine } from '../engine/cloak/engine.ts';
import { productEnsemble } from '../engine/cloak/ensemble.ts';
import { type PersonalMask, maskPattern } from '../engine/cloak/personal-mask-format.ts';
import { decodeImageNode } from '../engine/image/decode-node.ts';
import { type EncodeFormat, encodeImageNode } from '../engine/image/encode-node.ts';
import { ImageError } from '../engine/image/types.ts';
import { readModelFileNode } from '../engine/models/read-node.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string' },
    strength: { type: 'string', default: 'mid' },
    seed: { type: 'string', default: '0' },
    mode: { type: 'string', default: 'untargeted' },
    decoy: { type: 'string' },
    mask: { type: 'string' },
    'learn-mask': { type: 'string' },
  },
});
const strength = values.strength as Strength;
if (!['low', 'mid', 'high'].includes(strength)) throw new Error(`--strength must be low, mid or high, not ${values.strength}`);
const mode = values.mode as CloakMode;
if (!['untargeted', 'targeted'].includes(mode)) throw new Error(`--mode must be untargeted or targeted, not ${values.mode}`);
if (mode === 'targeted' && !values.decoy) throw new Error('--mode targeted needs --decoy <photo of someone else>');
if ((!values.out && !values['learn-mask']) || positionals.length === 0) {
  console.error(
    'usage: npm run cloak -- <file or folder ...> --out <dir> [--strength low|mid|high] [--seed N] [--mode targeted --decoy <photo>] [--mask <file>]\n' +
      '       npm run cloak -- <photos of one person ...> --learn-mask <file> [--strength low|mid|high]',
  );
  process.exit(2);
}

async function expand(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => null);
    if (info === null) {
      // Reported with the other per-file failures below instead of stopping the batch.
      files.push(path);
    } else if (info.isDirectory()) {
      for (const name of (await readdir(path)).sort()) {
        if (/\.(jpe?g|png|webp|gif|avif)$/i.test(name)) files.push(join(path, name));
      }
    } else files.push(path);
  }
  return files;
}

/** Why a file could not be used, for the person reading the output. */
const reasonOf = (error: unknown) => (error instanceof ImageError ? `${error.code}: ${error.message}` : (error as Error).message);

/** Targeted mode: how close the face came to the decoy (mean ensemble cosine, clean -> cloaked). */
const decoyText = (face: CloakedFace) =>
  face.decoy ? `, to the decoy ${face.decoy.cleanSimilarity.toFixed(2)} -> ${face.decoy.similarity.toFixed(2)}` : '';

/**
 * With --mask: whether the face started from it, or from noise because the mask did not fit it (someone else, or a
 * photo of the person it does not carry over to).
 */
const maskText = (face: CloakedFace) =>
  face.startSimilarity === undefined
    ? ''
    : `${face.fromStart ? 'from the mask' : 'mask did not fit, from noise'} (start similarity ${face.startSimilarity.toFixed(2)}` +
      `${face.referenceSimilarity === undefined ? '' : `, reference pattern ${face.referenceSimilarity.toFixed(2)}`}), ${face.steps} steps, `;

const outputFormat: Record<string, EncodeFormat> = { jpeg: 'jpeg', png: 'png', webp: 'webp' };

await useBackend(['wasm', 'cpu']);
const engine = await createCloakEngine(readModelFileNode, { ensemble: productEnsemble });
let decoy: Decoy | undefined;
if (mode === 'targeted') {
  try {
    decoy = await engine.makeDecoy(await decodeImageNode(new Uint8Array(await readFile(values.decoy!))));
  } catch (error) {
    engine.dispose();
    console.error(`${values.decoy}: cannot be the decoy (${reasonOf(error)})`);
    process.exit(2);
  }
}
if (values['learn-mask']) {
  const target = values['learn-mask'];
  const started = performance.now();
  let exitCode = 0;
  try {
    const photos = [];
    for (const file of await expand(positionals)) photos.push(await decodeImageNode(new Uint8Array(await readFile(file))));
    const mask = await engine.learnPersonalMask(photos, { strength, seed: Number(values.seed) });
    await writeFile(target, `${JSON.stringify(mask)}\n`);
    console.log(`personal mask learned from ${mask.photos} photo(s) in ${Math.round(performance.now() - started)} ms -> ${target}`);
  } catch (error) {
    console.error(`no personal mask learned (${reasonOf(error)})`);
    exitCode = 2;
  } finally {
    engine.dispose();
  }
  process.exit(exitCode);
}
let personalMask: PersonalMask | undefined;
if (values.mask) {
  try {
    personalMask = JSON.parse(await readFile(values.mask, 'utf8')) as PersonalMask;
    maskPattern(personalMask, engine.ensemble);
  } catch (error) {
    engine.dispose();
    console.error(`${values.mask}: cannot be read as a personal mask (${reasonOf(error)})`);
    process.exit(2);
  }
}
const outDir = values.out!;
await mkdir(outDir, { recursive: true });
let failures = 0;
/** Output names already written in this run: two inputs called 01.jpg in different folders must not overwrite. */
const written = new Set<string>();
function uniqueName(file: string, name: string): string {
  if (!written.has(name)) return name;
  const parent = basename(dirname(file));
  let candidate = `${parent}-${name}`;
  for (let n = 2; written.has(candidate); n++) candidate = `${parent}-${n}-${name}`;
  return candidate;
}
try {
  for (const file of await expand(positionals)) {
    const started = performance.now();
    try {
      const image = await decodeImageNode(new Uint8Array(await readFile(file)));
      const outcome = await engine.cloak(image, { strength, mode, decoy, personalMask, seed: Number(values.seed) });
      // Formats we cannot write (GIF, AVIF) become PNG, which keeps every pixel.
      const format = outputFormat[image.format] ?? 'png';
      const bytes = await encodeImageNode({ ...outcome.image, alpha: image.alpha }, format, { quality: 92 });
      const name = uniqueName(file, format === outputFormat[image.format] ? basename(file) : `${basename(file, extname(file))}.png`);
      written.add(name);
      await writeFile(join(outDir, name), bytes);
      const faces = outcome.faces.map((f) => `${Math.round(f.box.width)}px: ${maskText(f)}ensemble similarity ${f.ensembleSimilarity.toFixed(2)}${decoyText(f)}, face SSIM ${f.faceSsim.toFixed(3)}${f.scaledBy < 1 ? ` (scaled x${f.scaledBy.toFixed(2)})` : ""}`).join(', ');
      const skipped = outcome.skippedSmallFaces.length ? `, ${outcome.skippedSmallFaces.length} too small to cloak` : '';
      const ms = Math.round(performance.now() - started);
      console.log(`${file}: ${outcome.faces.length} face(s) cloaked${faces ? ` (${faces})` : ''}${skipped}, ${ms} ms -> ${join(outDir, name)}`);
    } catch (error) {
      failures++;
      console.error(`${file}: not cloaked (${reasonOf(error)})`);
    }
  }
} finally {
  engine.dispose();
}
process.exit(failures > 0 ? 1 : 0);
