/**
 * Protection benchmark: how well do cloakers keep face recognizers from matching a person, with and without
 * "defenses" (re-encoding, blurring, downscaling) applied to the posted photos.
 *
 *   npx tsx bench/protection/run.ts [--cloakers none,noise] [--seeds 5] [--limit-per-identity N]
 *     [--identities a,b|set] [--defenses all|list] [--recognizers list] [--thresholds file.json]
 *     [--eps 8] [--min-iou 0.3] [--faces dir] [--out file.json] [--workers N] [--keep-temp]
 *
 * The cloaking and the measuring side share nothing but the file: each photo is cloaked ONCE (its cloak does not
 * depend on the split), the cloaked bytes are written to a temp folder and read back, defended, decoded, and the
 * faces re-detected, re-aligned and embedded from scratch. Analyses are cached by the sha256 of the analysed bytes,
 * so each (photo, cloaker, defense) file is embedded once (and identical files once in all); every split seed is
 * then evaluated from the cached embeddings (evaluate.ts).
 *
 * Progress goes to stderr; the table to stdout, then one JSON line starting with {"bench":"protection".
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import type { StrengthSetting } from '../../src/engine/cloak/cloak.ts';
import type { RecognizerId } from '../../src/engine/faces/types.ts';
import { modelManifest, recognizerEntry, sourceLabel } from '../../src/engine/models/manifest.ts';
import { recognizerIds } from '../../src/engine/recognizers/zoo.ts';
import { type FixturePhoto, defaultFacesDir, loadFixtures, selectPhotos } from '../lib/fixtures.ts';
import { selectDefenses } from './defenses.ts';
import { type PhotoResult, evaluate, summariseQuality } from './evaluate.ts';
import { type MeasureConfig, type Timings, addTimings, createMeasurer, emptyTimings } from './measure.ts';
import { DEFAULT_MIN_IOU, cosine, pairSimilarities, shareAtOrAbove, thresholdAtFar } from './metrics.ts';
import { renderReport } from './report.ts';
import { SPLIT_RULE } from './split.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TARGET_FAR = 0.01;

const usage = `usage: npx tsx bench/protection/run.ts [options]
  --cloakers LIST            cloakers to run (default none,noise; 'none' is always run as the baseline)
  --seeds N                  split seeds 0..N-1 (default 5)
  --limit-per-identity N     first N photos (by id) of each identity
  --identities LIST          identities and/or sets (celeb5, jurassic) to use (default all)
  --defenses all|LIST        defenses (default all; 'none' is always included)
  --recognizers LIST         recognizers (default all five)
  --thresholds FILE          JSON {recognizerId: cosine} (or {thresholds: {...}}) at 1% FAR; else the model
                             manifest's thresholdAt1PctFar; else computed here from clean impostor pairs
  --eps N                    noise cloaker L-inf bound in 8-bit levels (default 8)
  --cloak-budget LIST        override the cloak strengths' budget, e.g. eps=10,flat=0.3,steps=16,ssim=0.95 (sweeps;
                             also coarse=, feat= feature-level weight, ssimw= SSIM-term weight, chroma= colour cap,
                             laststep= the last step's size as a share of the first's, momentum= the momentum's decay,
                             decoy= weight of the pull toward the decoy in targeted mode, masksteps= steps from a
                             personal mask, maskfit= the largest start similarity a face may keep the mask at,
                             masklead= how far below the reference pattern's it must be (maskfit=9,masklead=-9:
                             every face starts from it), masklearn= steps per photo learning it)
  --cloak-seed N             base seed of the per-photo cloak seeds (default 0)
  --min-iou X                smallest IoU for a re-detected face to be the same face (default ${DEFAULT_MIN_IOU})
  --faces DIR                fixtures folder (default ${defaultFacesDir()})
  --out FILE                 results JSON (default bench/results/protection-<timestamp>.json)
  --workers N                measure photos in N worker processes, each with its own models (default 1)
  --keep-temp                keep the temp folder with the cloaked files`;

/** `eps=10,steps=16,ssim=0.95` -> a partial StrengthSetting. */
function parseCloakBudget(spec: string): Partial<StrengthSetting> {
  const keys: Record<string, keyof StrengthSetting> = { eps: 'epsilon', flat: 'flatShare', coarse: 'coarseness', steps: 'steps', ssim: 'minFaceSsim', feat: 'featureWeight', ssimw: 'ssimWeight', chroma: 'chromaShare', laststep: 'lastStepShare', momentum: 'momentumDecay', decoy: 'decoyWeight', masksteps: 'maskSteps', maskfit: 'maskMaxStartSimilarity', masklead: 'maskLeadOverReference', masklearn: 'maskLearnStepsPerPhoto' };
  const budget: Partial<StrengthSetting> = {};
  for (const part of spec.split(',')) {
    const [key, value] = part.split('=');
    const number = Number(value);
    if (!(key in keys) || !Number.isFinite(number)) throw new Error(`--cloak-budget: cannot read '${part}' (keys: ${Object.keys(keys).join(', ')})`);
    budget[keys[key]] = number;
  }
  return budget;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      cloakers: { type: 'string', default: 'none,noise' },
      seeds: { type: 'string', default: '5' },
      'limit-per-identity': { type: 'string' },
      identities: { type: 'string' },
      defenses: { type: 'string', default: 'all' },
      recognizers: { type: 'string' },
      thresholds: { type: 'string' },
      eps: { type: 'string', default: '8' },
      'cloak-seed': { type: 'string', default: '0' },
      'cloak-budget': { type: 'string' },
      'min-iou': { type: 'string', default: String(DEFAULT_MIN_IOU) },
      faces: { type: 'string' },
      out: { type: 'string' },
      'keep-temp': { type: 'boolean', default: false },
      workers: { type: 'string', default: '1' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const list = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  const int = (s: string, name: string, min: number) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, not ${s}`);
    return n;
  };
  const recognizers = values.recognizers ? (list(values.recognizers) as RecognizerId[]) : recognizerIds.slice();
  const unknownRec = recognizers.filter((r) => !recognizerIds.includes(r));
  if (unknownRec.length > 0) throw new Error(`unknown recognizer(s) ${unknownRec.join(', ')}; known: ${recognizerIds.join(', ')}`);
  const cloakers = ['none', ...list(values.cloakers).filter((c) => c !== 'none')];
  const eps = Number(values.eps);
  if (!(eps > 0 && eps <= 255)) throw new Error(`--eps must be in (0, 255], not ${values.eps}`);
  const minIou = Number(values['min-iou']);
  if (!(minIou > 0 && minIou <= 1)) throw new Error(`--min-iou must be in (0, 1], not ${values['min-iou']}`);
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  return {
    cloakers,
    seeds: Array.from({ length: int(values.seeds, 'seeds', 1) }, (_, i) => i),
    limitPerIdentity: values['limit-per-identity'] ? int(values['limit-per-identity'], 'limit-per-identity', 1) : undefined,
    identities: values.identities ? list(values.identities) : undefined,
    defenses: selectDefenses(values.defenses),
    defenseSpec: values.defenses,
    workers: int(values.workers, 'workers', 1),
    recognizers,
    thresholdsFile: values.thresholds,
    eps,
    cloakSeed: int(values['cloak-seed'], 'cloak-seed', 0),
    cloakBudget: values['cloak-budget'] ? parseCloakBudget(values['cloak-budget']) : undefined,
    minIou,
    facesDir: values.faces ?? defaultFacesDir(),
    out: values.out ? resolve(values.out) : join(repoRoot, 'bench', 'results', `protection-${stamp}.json`),
    keepTemp: values['keep-temp'],
  };
}

const log = (message: string) => process.stderr.write(`${message}\n`);
const seconds = (ms: number) => (ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`);

const timings = { evaluateMs: 0, totalMs: 0 };

async function readThresholdsFile(path: string): Promise<Partial<Record<RecognizerId, number>>> {
  const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  const source = (json.thresholds && typeof json.thresholds === 'object' ? json.thresholds : json) as Record<string, unknown>;
  const out: Partial<Record<RecognizerId, number>> = {};
  for (const [key, value] of Object.entries(source)) {
    const v =
      typeof value === 'number'
        ? value
        : value && typeof value === 'object' && typeof (value as Record<string, unknown>).thresholdAt1PctFar === 'number'
          ? ((value as Record<string, unknown>).thresholdAt1PctFar as number)
          : undefined;
    if (v !== undefined && recognizerIds.includes(key as RecognizerId)) out[key as RecognizerId] = v;
  }
  return out;
}

function gitInfo(): { commit: string | null; dirty: boolean | null } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bench', 'models'], { cwd: repoRoot, encoding: 'utf8' });
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return { commit: null, dirty: null };
  }
}

/** JSON with Infinity / NaN kept as strings (JSON has neither) and typed arrays as plain arrays. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    if (v instanceof Float32Array) return Array.from(v);
    return v;
  }, 1);
}

interface MeasureAllResult {
  results: PhotoResult[];
  timings: Timings;
  backend: string;
  cloakers: { id: string; describe: string }[];
}

/**
 * Measures every photo, in this process (workers = 1) or in `workers` child processes, each with its own models,
 * taking the next photo when it is free. Results come back in photo order; measurements do not depend on the worker.
 */
async function measureAll(photos: readonly FixturePhoto[], config: MeasureConfig, workers: number): Promise<MeasureAllResult> {
  const results: PhotoResult[] = new Array(photos.length);
  const started = performance.now();
  let done = 0;
  const progress = (index: number, r: PhotoResult, newAnalyses: number, ms: number, who: string) => {
    done++;
    const elapsed = performance.now() - started;
    const eta = (elapsed / done) * (photos.length - done);
    const lost = Object.entries(r.measured)
      .map(([c, d]) => `${c}:${Object.values(d).filter((o) => !o.detected).length}`)
      .join(' ');
    log(
      `[${done}/${photos.length}] ${photos[index].id} ${r.width}x${r.height} ` +
        (r.clean ? `faces ${r.clean.faces}, lost ${lost}` : `EXCLUDED (${r.excludedBecause})`) +
        `, ${newAnalyses} analyses in ${seconds(ms)}${who}; elapsed ${seconds(elapsed)}, eta ${seconds(eta)}`,
    );
  };

  if (workers <= 1) {
    const measurer = await createMeasurer(config);
    log(`backend ${measurer.backend}, models loaded in ${seconds(measurer.timings.loadMs)}`);
    try {
      for (const [i, photo] of photos.entries()) {
        const t = performance.now();
        const before = measurer.timings.analyses;
        results[i] = await measurer.measure(photo);
        progress(i, results[i], measurer.timings.analyses - before, performance.now() - t, '');
      }
    } finally {
      measurer.dispose();
    }
    return { results, timings: measurer.timings, backend: measurer.backend, cloakers: measurer.cloakers };
  }

  const timings = emptyTimings();
  let backend = '';
  let cloakers: { id: string; describe: string }[] = [];
  let next = 0;
  const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));
  const runWorker = (w: number) =>
    new Promise<void>((resolveWorker, rejectWorker) => {
      const child = fork(workerPath, [], { execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      const sentAt = new Map<number, number>();
      let finished = false;
      const sendNext = () => {
        if (next < photos.length) {
          const index = next++;
          sentAt.set(index, performance.now());
          child.send({ type: 'measure', index, photo: photos[index] });
        } else {
          child.send({ type: 'done' });
        }
      };
      child.on('message', (m: { type: string; [key: string]: unknown }) => {
        if (m.type === 'ready') {
          backend = m.backend as string;
          cloakers = m.cloakers as typeof cloakers;
          log(`worker ${w}: backend ${backend}, models loaded`);
          sendNext();
        } else if (m.type === 'result') {
          const index = m.index as number;
          results[index] = m.result as PhotoResult;
          progress(index, results[index], m.analyses as number, performance.now() - sentAt.get(index)!, ` (worker ${w})`);
          sendNext();
        } else if (m.type === 'timings') {
          if (m.timings) addTimings(timings, m.timings as Timings);
          finished = true;
        } else if (m.type === 'error') {
          child.kill();
          rejectWorker(new Error(`worker ${w}: ${m.message as string}`));
        }
      });
      child.on('exit', (code: number | null) => {
        if (finished) resolveWorker();
        else rejectWorker(new Error(`worker ${w} exited with code ${code} before finishing`));
      });
      child.send({ type: 'init', config });
    });
  await Promise.all(Array.from({ length: workers }, (_, w) => runWorker(w)));
  return { results, timings, backend, cloakers };
}

function resolveThresholds(photos: readonly PhotoResult[], recognizers: readonly RecognizerId[], fromFile: Partial<Record<RecognizerId, number>>) {
  const usable = photos.filter((p) => p.clean);
  const out: Partial<
    Record<
      RecognizerId,
      {
        value: number;
        source: string;
        computed: { threshold: number; achievedFar: number; impostorPairs: number; genuinePairs: number; genuineAcceptRate: number };
        genuineAcceptRateAtValue: number;
      }
    >
  > = {};
  for (const rec of recognizers) {
    const items = usable
      .filter((p) => p.clean!.embeddings[rec])
      .map((p) => ({ label: p.identity, embedding: p.clean!.embeddings[rec]! }));
    const { genuine, impostor } = pairSimilarities(items);
    const computed = thresholdAtFar(impostor, TARGET_FAR);
    const fileValue = fromFile[rec];
    const manifestValue = recognizerEntry(rec).thresholdAt1PctFar;
    const [value, source] =
      fileValue !== undefined
        ? [fileValue, 'thresholds file']
        : manifestValue !== undefined
          ? [manifestValue, 'models/manifest.json']
          : [computed.threshold, `computed here: 1% FAR over ${impostor.length} clean impostor pairs`];
    out[rec] = {
      value,
      source,
      computed: {
        ...computed,
        genuinePairs: genuine.length,
        genuineAcceptRate: shareAtOrAbove(genuine, computed.threshold),
      },
      genuineAcceptRateAtValue: shareAtOrAbove(genuine, value),
    };
  }
  return out;
}

async function main(): Promise<void> {
  const started = performance.now();
  const opts = parseOptions();
  const fixtures = await loadFixtures(opts.facesDir);
  const photos = selectPhotos(fixtures.photos, opts.identities, opts.limitPerIdentity);
  if (photos.length === 0) throw new Error('no photos selected');
  const identities = [...new Set(photos.map((p) => p.identity))];
  log(
    `protection bench: ${photos.length} photos, ${identities.length} identities, cloakers ${opts.cloakers.join(',')}, ` +
      `${opts.defenses.length} defenses, ${opts.recognizers.length} recognizers, seeds ${opts.seeds.length}`,
  );

  const tempDir = await mkdtemp(join(tmpdir(), 'face-cloak-protection-'));
  for (const c of opts.cloakers) await mkdir(join(tempDir, c), { recursive: true });
  const config: MeasureConfig = {
    cloakers: opts.cloakers,
    defenses: opts.defenseSpec,
    recognizers: opts.recognizers,
    noiseEpsilon: opts.eps,
    cloakSeed: opts.cloakSeed,
    cloakBudget: opts.cloakBudget,
    minIou: opts.minIou,
    facesDir: fixtures.dir,
    tempDir,
  };
  const measureStart = performance.now();
  let measured: MeasureAllResult;
  try {
    measured = await measureAll(photos, config, Math.min(opts.workers, photos.length));
  } finally {
    if (!opts.keepTemp) await rm(tempDir, { recursive: true, force: true });
    else log(`cloaked files kept in ${tempDir}`);
  }
  const { results, backend, cloakers } = measured;
  const measureMs = performance.now() - measureStart;
  const measureTimings = measured.timings;

  const t = performance.now();
  const fromFile = opts.thresholdsFile ? await readThresholdsFile(opts.thresholdsFile) : {};
  const thresholds = resolveThresholds(results, opts.recognizers, fromFile);
  const defenseIds = opts.defenses.map((d) => d.id);
  const cells = evaluate(results, {
    cloakers: opts.cloakers,
    defenses: defenseIds,
    recognizers: opts.recognizers,
    thresholds: Object.fromEntries(opts.recognizers.map((r) => [r, thresholds[r]!.value])),
    seeds: opts.seeds,
  });
  const quality = Object.fromEntries(opts.cloakers.map((c) => [c, summariseQuality(results, c)]));
  timings.evaluateMs = performance.now() - t;
  timings.totalMs = performance.now() - started;

  const report = renderReport({
    cloakers,
    defenses: defenseIds,
    recognizers: opts.recognizers,
    cells,
    quality,
    thresholds,
  });
  const usable = results.filter((r) => r.clean);
  const excluded = results.filter((r) => !r.clean).map((r) => ({ id: r.id, because: r.excludedBecause }));
  console.log(report);
  console.log(
    `\n${photos.length} photos (${usable.length} with a clean face; excluded: ${excluded.map((e) => e.id).join(', ') || 'none'}), ` +
      `${identities.length} identities, seeds ${opts.seeds.join(',')}; ${measureTimings.analyses} analyses ` +
      `(${measureTimings.analysisCacheHits} cache hits), ${opts.workers} worker(s), total ${seconds(timings.totalMs)}`,
  );

  const git = gitInfo();
  const output = {
    bench: 'protection',
    createdUtc: new Date().toISOString(),
    config: {
      photos: photos.length,
      usablePhotos: usable.length,
      excluded,
      identities: Object.fromEntries(identities.map((id) => [id, usable.filter((p) => p.identity === id).length])),
      limitPerIdentity: opts.limitPerIdentity ?? null,
      seeds: opts.seeds,
      split: SPLIT_RULE,
      identification:
        "per user identity: gallery = the user's gallery photos cloaked then defended + the other identities' gallery photos " +
        "uncloaked with the same defense; probes = the user's probe photos clean and undefended; nearest neighbour by cosine, " +
        'per-photo max; protection@k = 1 - top-k accuracy pooled over users, mean/std over seeds',
      evasion:
        "cloaked(+defended) photo's face (best IoU >= minIoU with the clean photo's largest face, boxes mapped back to the " +
        "original's pixels) with cosine to the clean face < threshold, or not re-detected (counted as evaded)",
      quality:
        'cloaked file vs original, decoded: SSIM on BT.601 luma (gaussian 11, sigma 1.5, valid window), PSNR over RGB; face = clean largest face box',
      minIou: opts.minIou,
      targetFar: TARGET_FAR,
      thresholds,
      cloakers,
      noiseEpsilon: opts.eps,
      cloakSeed: opts.cloakSeed,
      cloakBudget: opts.cloakBudget ?? null,
      defenses: opts.defenses.map((d) => ({ id: d.id, describe: d.describe })),
      recognizers: opts.recognizers.map((r) => {
        const e = recognizerEntry(r);
        return { id: r, source: sourceLabel(e), manifestThreshold: e.thresholdAt1PctFar ?? null };
      }),
      detector: modelManifest.models.filter((m) => m.role === 'detector' || m.role === 'landmarks').map((m) => m.id),
      fixtures: { dir: fixtures.dir, generatedUtc: fixtures.generatedUtc, manifestSha256: fixtures.manifestSha256 },
      versions: {
        git: git.commit,
        gitDirty: git.dirty,
        node: process.version,
        tfjs: tf.version.tfjs,
        backend,
        sharp: sharp.versions.sharp,
        libvips: sharp.versions.vips,
      },
    },
    timings: {
      note: 'ms; the per-stage numbers are summed over photos and over worker processes',
      workers: opts.workers,
      totalMs: timings.totalMs,
      measureWallMs: measureMs,
      evaluateMs: timings.evaluateMs,
      ...measureTimings,
      analyzeMeanMs: measureTimings.analyses > 0 ? measureTimings.analyzeMs / measureTimings.analyses : null,
    },
    quality,
    cells,
    photos: results.map((r) => ({
      id: r.id,
      file: r.file,
      width: r.width,
      height: r.height,
      excludedBecause: r.excludedBecause,
      clean: r.clean ? { faces: r.clean.faces, box: r.clean.box, score: r.clean.score } : null,
      quality: r.quality,
      measured: Object.fromEntries(
        Object.entries(r.measured).map(([c, perDefense]) => [
          c,
          Object.fromEntries(
            Object.entries(perDefense).map(([d, o]) => [
              d,
              {
                detected: o.detected,
                faces: o.faces,
                iou: Number(o.iou.toFixed(4)),
                error: o.error,
                similarity: Object.fromEntries(
                  opts.recognizers.map((rec) => {
                    const a = r.clean?.embeddings[rec];
                    const b = o.embeddings?.[rec];
                    return [rec, a && b ? Number(cosine(a, b).toFixed(5)) : null];
                  }),
                ),
              },
            ]),
          ),
        ]),
      ),
    })),
  };
  await mkdir(dirname(opts.out), { recursive: true });
  await writeFile(opts.out, toJson(output));
  log(`results written to ${opts.out}`);

  const summary: Record<string, Record<string, { evasion: number; protectionTop1: number; protectionTop5: number }>> = {};
  for (const c of cells.filter((cell) => cell.defense === 'none')) {
    (summary[c.cloaker] ??= {})[c.recognizer] = {
      evasion: Number(c.evasion.rate.toFixed(4)),
      protectionTop1: Number(c.protectionTop1.mean.toFixed(4)),
      protectionTop5: Number(c.protectionTop5.mean.toFixed(4)),
    };
  }
  console.log(
    JSON.stringify({
      bench: 'protection',
      out: opts.out,
      photos: photos.length,
      usablePhotos: usable.length,
      identities: identities.length,
      seeds: opts.seeds.length,
      cloakers: opts.cloakers,
      defenses: defenseIds,
      thresholds: Object.fromEntries(opts.recognizers.map((r) => [r, Number(thresholds[r]!.value.toFixed(4))])),
      thresholdSource: Object.fromEntries(opts.recognizers.map((r) => [r, thresholds[r]!.source])),
      undefended: summary,
      seconds: Math.round(timings.totalMs / 1000),
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
