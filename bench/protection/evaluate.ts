/**
 * From the cached per-photo measurements to the benchmark's numbers. No models, no I/O: every split is evaluated
 * from embeddings computed once per (photo, cloaker, defense).
 *
 * Identification protocol, per split seed and per identity U ("the user"):
 *   gallery = U's gallery photos, cloaked by the cloaker and then defended
 *           + every other identity's gallery photos, not cloaked, with the same defense (distractors);
 *   probes  = U's probe photos, clean and undefended (the attacker's own camera photos);
 *   nearest neighbour by cosine, per-photo max (an identity scores its best gallery photo); top-k over identities.
 * Protection@k = 1 - (probes ranked within k) / (probes), pooled over every user, then mean ± std over seeds.
 */
import type { Box, RecognizerId } from '../../src/engine/faces/types.ts';
import type { FixturePhoto } from '../lib/fixtures.ts';
import { mean, std } from '../lib/stats.ts';
import { type EvasionOutcome, type EvasionResult, cosine, evasion, rankOfTruth, summariseRanks } from './metrics.ts';
import { makeSplit } from './split.ts';

export type Embeddings = Partial<Record<RecognizerId, Float32Array>>;

/** The face that stands for the photo in one measured file: the re-detected face matching the clean reference. */
export interface Observation {
  /** A face overlapping the clean reference face (IoU >= the minimum) was found. */
  detected: boolean;
  /** Faces found in the file. */
  faces: number;
  /** IoU of the matched face (best IoU when not matched). */
  iou: number;
  embeddings?: Embeddings;
  error?: string;
}

export interface QualityRecord {
  ssimWhole: number;
  psnrWhole: number;
  ssimFace: number;
  psnrFace: number;
  /** Cloaked file size / original file size. */
  bytesRatio: number;
}

export interface PhotoResult extends Pick<FixturePhoto, 'id' | 'set' | 'identity' | 'file' | 'width' | 'height'> {
  /** The clean photo's largest face: the reference every later measurement is matched to. Null when none. */
  clean: { faces: number; box: Box; score: number; embeddings: Embeddings } | null;
  excludedBecause?: string;
  /** measured[cloaker][defense] */
  measured: Record<string, Record<string, Observation>>;
  quality: Record<string, QualityRecord>;
}

export interface SeedSummary {
  mean: number;
  std: number;
  perSeed: number[];
}

export interface Cell {
  cloaker: string;
  recognizer: RecognizerId;
  defense: string;
  threshold: number;
  evasion: EvasionResult;
  protectionTop1: SeedSummary;
  protectionTop5: SeedSummary;
  /** Probes per seed (pooled over users). */
  probesPerSeed: number[];
  /** Protection@1 per user identity, pooled over seeds. */
  perIdentityTop1: Record<string, number>;
}

export interface EvaluateOptions {
  cloakers: readonly string[];
  defenses: readonly string[];
  recognizers: readonly RecognizerId[];
  thresholds: Partial<Record<RecognizerId, number>>;
  seeds: readonly number[];
  /** Cloaker whose measurements give the uncloaked distractors (default 'none'). */
  cleanCloaker?: string;
}

function seedSummary(values: number[]): SeedSummary {
  return { mean: mean(values), std: std(values), perSeed: values };
}

export function evasionOutcomes(photos: readonly PhotoResult[], cloaker: string, defense: string, rec: RecognizerId): EvasionOutcome[] {
  return photos
    .filter((p) => p.clean?.embeddings[rec])
    .map((p) => {
      const o = p.measured[cloaker]?.[defense];
      const e = o?.detected ? o.embeddings?.[rec] : undefined;
      return e ? { detected: true as const, similarity: cosine(p.clean!.embeddings[rec]!, e) } : { detected: false as const };
    });
}

export function evaluate(photos: readonly PhotoResult[], options: EvaluateOptions): Cell[] {
  const cleanCloaker = options.cleanCloaker ?? 'none';
  const usable = photos.filter((p) => p.clean !== null);
  const byId = new Map(usable.map((p) => [p.id, p]));
  const byIdentity = new Map<string, string[]>();
  for (const p of usable) byIdentity.set(p.identity, [...(byIdentity.get(p.identity) ?? []), p.id]);
  const splits = options.seeds.map((seed) => makeSplit(byIdentity, seed));

  const galleryEmbedding = (id: string, cloaker: string, defense: string, rec: RecognizerId) => {
    const o = byId.get(id)!.measured[cloaker]?.[defense];
    return o?.detected ? o.embeddings?.[rec] : undefined;
  };

  const cells: Cell[] = [];
  for (const cloaker of options.cloakers) {
    for (const rec of options.recognizers) {
      const threshold = options.thresholds[rec];
      if (threshold === undefined) throw new Error(`no threshold for ${rec}`);
      for (const defense of options.defenses) {
        const top1: number[] = [];
        const top5: number[] = [];
        const probesPerSeed: number[] = [];
        const perIdentity = new Map<string, number[]>();
        for (const split of splits) {
          // Distractor gallery (clean + defended) for every identity, built once per split.
          const distractors = new Map<string, Float32Array[]>();
          for (const [identity, s] of split) {
            distractors.set(
              identity,
              s.gallery.map((id) => galleryEmbedding(id, cleanCloaker, defense, rec)).filter((e): e is Float32Array => !!e),
            );
          }
          const ranks: number[] = [];
          for (const [user, s] of split) {
            const gallery = new Map(distractors);
            gallery.set(
              user,
              s.gallery.map((id) => galleryEmbedding(id, cloaker, defense, rec)).filter((e): e is Float32Array => !!e),
            );
            const userRanks = s.probes
              .map((id) => byId.get(id)!.clean!.embeddings[rec])
              .filter((e): e is Float32Array => !!e)
              .map((probe) => rankOfTruth(probe, user, gallery));
            ranks.push(...userRanks);
            perIdentity.set(user, [...(perIdentity.get(user) ?? []), ...userRanks]);
          }
          const summary = summariseRanks(ranks, [1, 5]);
          top1.push(summary.protection[1]);
          top5.push(summary.protection[5]);
          probesPerSeed.push(summary.probes);
        }
        const perIdentityTop1: Record<string, number> = {};
        for (const [identity, ranks] of perIdentity) perIdentityTop1[identity] = summariseRanks(ranks, [1]).protection[1];
        cells.push({
          cloaker,
          recognizer: rec,
          defense,
          threshold,
          evasion: evasion(evasionOutcomes(usable, cloaker, defense, rec), threshold),
          protectionTop1: seedSummary(top1),
          protectionTop5: seedSummary(top5),
          probesPerSeed,
          perIdentityTop1,
        });
      }
    }
  }
  return cells;
}

export interface QualitySummary {
  photos: number;
  ssimWholeMean: number;
  ssimWholeMin: number;
  ssimFaceMean: number;
  ssimFaceMin: number;
  /** Mean over photos with a finite PSNR; Infinity when every photo is identical. */
  psnrWholeMean: number;
  psnrFaceMean: number;
  bytesRatioMean: number;
}

function finiteMeanOrInf(values: number[]): number {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return values.length > 0 ? Number.POSITIVE_INFINITY : Number.NaN;
  return mean(finite);
}

export function summariseQuality(photos: readonly PhotoResult[], cloaker: string): QualitySummary {
  const q = photos.map((p) => p.quality[cloaker]).filter((r): r is QualityRecord => !!r);
  const faces = q.filter((r) => Number.isFinite(r.ssimFace));
  return {
    photos: q.length,
    ssimWholeMean: mean(q.map((r) => r.ssimWhole)),
    ssimWholeMin: Math.min(...q.map((r) => r.ssimWhole)),
    ssimFaceMean: mean(faces.map((r) => r.ssimFace)),
    ssimFaceMin: Math.min(...faces.map((r) => r.ssimFace)),
    psnrWholeMean: finiteMeanOrInf(q.map((r) => r.psnrWhole)),
    psnrFaceMean: finiteMeanOrInf(faces.map((r) => r.psnrFace)),
    bytesRatioMean: mean(q.map((r) => r.bytesRatio)),
  };
}
