/**
 * The measuring loop for one photo: cloak it once per cloaker, write the cloaked file to disk and read it back,
 * apply every defense, decode, re-detect, re-align and embed from scratch, and keep the face that matches the clean
 * photo's largest face. Runs in the main process or in worker processes (worker.ts); its config is plain data.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type BackendName, useBackend } from '../../src/engine/backends/backends.ts';
import type { AnalyzedFace, Box, RecognizerId } from '../../src/engine/faces/types.ts';
import { decodeImageNode } from '../../src/engine/image/decode-node.ts';
import type { RgbImage } from '../../src/engine/image/types.ts';
import { readModelFileNode } from '../../src/engine/models/read-node.ts';
import { createFaceAnalyzer } from '../../src/engine/pipeline.ts';
import { type FixturePhoto, readPhoto } from '../lib/fixtures.ts';
import { deriveSeed } from '../lib/prng.ts';
import { cropInside, psnr, ssim } from '../../src/engine/image/quality.ts';
import type { StrengthSetting } from '../../src/engine/cloak/cloak.ts';
import { createCloakers } from './cloakers.ts';
import { selectDefenses } from './defenses.ts';
import type { Embeddings, Observation, PhotoResult, QualityRecord } from './evaluate.ts';
import { largestBox, matchFace, unscaleBox } from './metrics.ts';

export interface MeasureConfig {
  cloakers: string[];
  /** 'all' or a comma list (see defenses.ts). */
  defenses: string;
  recognizers: RecognizerId[];
  noiseEpsilon: number;
  /** Overrides of the cloak strengths' budget (--cloak-budget). */
  cloakBudget?: Partial<StrengthSetting>;
  cloakSeed: number;
  minIou: number;
  facesDir: string;
  /** Folder with one sub-folder per cloaker, for the cloaked files. */
  tempDir: string;
}

/** Milliseconds (and counts), summed over photos (and over workers when there are several). */
export interface Timings {
  loadMs: number;
  cloakMs: Record<string, number>;
  defendMs: Record<string, number>;
  decodeMs: number;
  analyzeMs: number;
  analyses: number;
  analysisCacheHits: number;
  qualityMs: number;
}

export function emptyTimings(): Timings {
  return { loadMs: 0, cloakMs: {}, defendMs: {}, decodeMs: 0, analyzeMs: 0, analyses: 0, analysisCacheHits: 0, qualityMs: 0 };
}

export function addTimings(into: Timings, from: Timings): void {
  for (const key of ['loadMs', 'decodeMs', 'analyzeMs', 'analyses', 'analysisCacheHits', 'qualityMs'] as const) into[key] += from[key];
  for (const key of ['cloakMs', 'defendMs'] as const) {
    for (const [id, ms] of Object.entries(from[key])) into[key][id] = (into[key][id] ?? 0) + ms;
  }
}

export interface Measurer {
  backend: BackendName;
  cloakers: { id: string; describe: string }[];
  timings: Timings;
  measure(photo: FixturePhoto): Promise<PhotoResult>;
  dispose(): void;
}

interface Analysis {
  width: number;
  height: number;
  faces: { box: Box; score: number; embeddings: Embeddings }[];
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export function extensionOf(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'jpg';
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return 'png';
  if (bytes[0] === 0x52 && bytes[1] === 0x49 && bytes[8] === 0x57 && bytes[9] === 0x45) return 'webp';
  return 'bin';
}

function qualityOf(original: RgbImage, cloaked: RgbImage, face: Box, originalBytes: number, cloakedBytes: number): QualityRecord {
  if (original.width !== cloaked.width || original.height !== cloaked.height) {
    return { ssimWhole: NaN, psnrWhole: NaN, ssimFace: NaN, psnrFace: NaN, bytesRatio: cloakedBytes / originalBytes };
  }
  const a = cropInside(original, face);
  const b = cropInside(cloaked, face);
  return {
    ssimWhole: ssim(original, cloaked),
    psnrWhole: psnr(original, cloaked),
    ssimFace: ssim(a, b),
    psnrFace: psnr(a, b),
    bytesRatio: cloakedBytes / originalBytes,
  };
}

export async function createMeasurer(config: MeasureConfig): Promise<Measurer> {
  const timings = emptyTimings();
  const t0 = performance.now();
  const backend = await useBackend(['wasm']);
  const analyzer = await createFaceAnalyzer(readModelFileNode, { recognizers: config.recognizers });
  const cloakers = await createCloakers(config.cloakers, {
    readModelFile: readModelFileNode,
    noiseEpsilon: config.noiseEpsilon,
    budget: config.cloakBudget,
    facesDir: config.facesDir,
  });
  const defenses = selectDefenses(config.defenses);
  timings.loadMs = performance.now() - t0;

  // Analyses by the sha256 of the analysed bytes: identical files (a defense that left the file alone, the
  // original under cloaker 'none') are embedded once.
  const cache = new Map<string, Analysis>();
  async function analyzeFile(bytes: Uint8Array): Promise<Analysis> {
    const key = sha256(bytes);
    const hit = cache.get(key);
    if (hit) {
      timings.analysisCacheHits++;
      return hit;
    }
    let t = performance.now();
    const image = await decodeImageNode(bytes);
    timings.decodeMs += performance.now() - t;
    t = performance.now();
    const faces: AnalyzedFace[] = await analyzer.analyze(image);
    timings.analyzeMs += performance.now() - t;
    timings.analyses++;
    const analysis: Analysis = {
      width: image.width,
      height: image.height,
      faces: faces.map((f) => ({ box: f.box, score: f.score, embeddings: f.embeddings })),
    };
    cache.set(key, analysis);
    return analysis;
  }

  async function measure(photo: FixturePhoto): Promise<PhotoResult> {
    const original = await readPhoto(config.facesDir, photo);
    const clean = await analyzeFile(original);
    const result: PhotoResult = {
      id: photo.id,
      set: photo.set,
      identity: photo.identity,
      file: photo.file,
      width: clean.width,
      height: clean.height,
      clean: null,
      measured: {},
      quality: {},
    };
    const ref = largestBox(clean.faces.map((f) => f.box));
    if (ref < 0) {
      result.excludedBecause = 'no face detected in the clean photo';
      return result;
    }
    const reference = clean.faces[ref];
    result.clean = { faces: clean.faces.length, box: reference.box, score: reference.score, embeddings: reference.embeddings };
    const originalImage = await decodeImageNode(original);

    for (const cloaker of cloakers) {
      let t = performance.now();
      const cloakedOut = await cloaker.cloak(original, { seed: deriveSeed('cloak', config.cloakSeed, cloaker.id, photo.id), identity: photo.identity });
      timings.cloakMs[cloaker.id] = (timings.cloakMs[cloaker.id] ?? 0) + performance.now() - t;
      // Only the file crosses over: write it, read it back.
      const path = join(config.tempDir, cloaker.id, `${photo.id.replace('/', '-')}.${extensionOf(cloakedOut)}`);
      await writeFile(path, cloakedOut);
      const cloaked = new Uint8Array(await readFile(path));

      t = performance.now();
      const cloakedImage = await decodeImageNode(cloaked);
      result.quality[cloaker.id] = qualityOf(originalImage, cloakedImage, reference.box, original.length, cloaked.length);
      timings.qualityMs += performance.now() - t;

      const perDefense: Record<string, Observation> = {};
      for (const defense of defenses) {
        t = performance.now();
        let observation: Observation;
        try {
          const defended = await defense.apply(cloaked);
          timings.defendMs[defense.id] = (timings.defendMs[defense.id] ?? 0) + performance.now() - t;
          const analysis = await analyzeFile(defended);
          // Boxes found on a rescaled file are mapped back to the original's pixels before matching.
          const boxes = analysis.faces.map((f) => unscaleBox(f.box, analysis.width / clean.width, analysis.height / clean.height));
          const match = matchFace(reference.box, boxes, config.minIou);
          observation = {
            detected: match.index >= 0,
            faces: analysis.faces.length,
            iou: match.iou,
            embeddings: match.index >= 0 ? analysis.faces[match.index].embeddings : undefined,
          };
        } catch (error) {
          observation = { detected: false, faces: 0, iou: 0, error: (error as Error).message };
        }
        perDefense[defense.id] = observation;
      }
      result.measured[cloaker.id] = perDefense;
    }
    // Entries are only re-used within one photo; dropping them keeps memory flat over a long run.
    cache.clear();
    return result;
  }

  return {
    backend,
    cloakers: cloakers.map((c) => ({ id: c.id, describe: c.describe })),
    timings,
    measure,
    dispose() {
      analyzer.dispose();
      for (const c of cloakers) c.dispose?.();
    },
  };
}
