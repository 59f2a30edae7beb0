/**
 * The speed benchmark (issue 3, "Speed"): how long the shipped cloak takes per photo, by backend, and how that time
 * grows with the photo's megapixels and its number of faces; the detection-only path for photos without a face;
 * and a laptop-GPU estimate from operation counts.
 *
 *   npx tsx bench/speed/run.ts [--backends wasm,cpu,webgl,webgpu,chromium-wasm] [--strength mid] [--quick]
 *       [--reduced-steps 2] [--photo bryce_dallas_howard/11] [--sizes 0.5,1,2,4,8,12] [--faces 1,2,4]
 *       [--skip-series] [--skip-ops] [--mask me.mask.json] [--scene-seeds 1,2,3] [--out file.json]
 *
 * Backends: `wasm` and `cpu` run in Node; `webgl`, `webgpu`, `chromium-wasm` and `chromium-cpu` run inside the built
 * extension in headless Chromium (build it first: `node build.mjs chromium`; SwiftShader stands in for a GPU here).
 * The megapixel, face-count and no-face series run on the first Node backend listed (wasm by default).
 * wasm runs are full cloaks. cpu and the Chromium GPU backends take seconds per gradient, so they run reduced: the
 * first face stops after --reduced-steps steps and its time is extrapolated (setup + steps x median step; the table
 * says "reduced"). --quick: strength low, wasm only unless --backends says otherwise, two sizes, 1 and 2 faces,
 * series reduced where they can be.
 *
 * --mask: also time the face photo on wasm started from that personal mask (`npm run cloak -- <photos of the same
 * person> --learn-mask me.mask.json`, from photos other than the timed one), refined for the strength's maskSteps.
 *
 * Photos are made in memory from ../shared/faces, read in place (bench/speed/photos.ts). Prints tables, writes
 * bench/results/speed-<time>.json and ends with one JSON line starting {"bench":"speed".
 * Timings on a shared 2-core machine move with its load: the JSON records the load average.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { type BackendName, useBackend } from '../../src/engine/backends/backends.ts';
import { strengthSettings } from '../../src/engine/cloak/cloak.ts';
import { type CloakEngine, createCloakEngine } from '../../src/engine/cloak/engine.ts';
import { productEnsemble } from '../../src/engine/cloak/ensemble.ts';
import type { PersonalMask } from '../../src/engine/cloak/personal-mask-format.ts';
import { type FaceDetector, createFaceDetector } from '../../src/engine/detect/detector.ts';
import { decodeImageNode } from '../../src/engine/image/decode-node.ts';
import { readModelFileNode } from '../../src/engine/models/read-node.ts';
import { loadRecognizer } from '../../src/engine/recognizers/zoo.ts';
import { loadFixtures } from '../lib/fixtures.ts';
import { median } from '../lib/stats.ts';
import { formatTable } from '../lib/table.ts';
import { type BrowserSession, openBrowserSession } from './browser.ts';
import { type CloakTiming, type StrengthName, type TimeCloakOptions, runCloak, timeCloak, warmUpCloak } from './cloak-timing.ts';
import { estimateSeconds, faceWork, laptopGpuAssumptions } from './estimate.ts';
import { type OpCount, countOps, subtractOps } from './ops.ts';
import {
  type SpeedPhoto,
  atMegapixels,
  defaultFacePhoto,
  fixturePhoto,
  syntheticScene,
  tiled,
} from './photos.ts';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string' },
    strength: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'reduced-steps': { type: 'string', default: '2' },
    photo: { type: 'string', default: defaultFacePhoto },
    // Every fixture photo shows a face to the engine's detector, so the no-face series is synthetic unless one is named.
    'faceless-photo': { type: 'string' },
    sizes: { type: 'string' },
    faces: { type: 'string' },
    'no-face-repeats': { type: 'string' },
    // Each size is timed on scenes of several noise draws: the quick check answers some and sends others on.
    'scene-seeds': { type: 'string', default: '1,2,3' },
    'skip-series': { type: 'boolean', default: false },
    'skip-ops': { type: 'boolean', default: false },
    mask: { type: 'string' },
    out: { type: 'string' },
  },
});
const quick = args.quick;
const strength = (args.strength ?? (quick ? 'low' : 'mid')) as StrengthName;
if (!(strength in strengthSettings)) throw new Error(`unknown strength "${strength}" (low, mid, high)`);
const backends = (args.backends ?? (quick ? 'wasm' : 'wasm,cpu,webgl,webgpu,chromium-wasm')).split(',').map((b) => b.trim());
const nodeBackends = ['wasm', 'cpu'];
const browserBackends: Record<string, string> = { webgl: 'webgl', webgpu: 'webgpu', 'chromium-wasm': 'wasm', 'chromium-cpu': 'cpu' };
for (const b of backends) if (!nodeBackends.includes(b) && !(b in browserBackends)) throw new Error(`unknown backend "${b}"`);
const reducedSteps = Number(args['reduced-steps']);
const numbers = (text: string) => text.split(',').map(Number);
const sizes = numbers(args.sizes ?? (quick ? '0.5,2' : '0.5,1,2,4,8,12'));
const faceCounts = numbers(args.faces ?? (quick ? '1,2' : '1,2,4'));
const noFaceSizes = quick ? [0.5, 2] : [0.5, 2, 8, 12];
const noFaceRepeats = Number(args['no-face-repeats'] ?? (quick ? 2 : 3));
const sceneSeeds = numbers(args['scene-seeds']);
if (sceneSeeds.some((noiseSeed) => !Number.isInteger(noiseSeed))) throw new Error(`--scene-seeds must be whole numbers, not "${args['scene-seeds']}"`);
/** Full runs where a cloak takes seconds per step at most; reduced (extrapolated) runs elsewhere. */
const fullRunOn = new Set(['wasm', 'chromium-wasm']);
const seed = 1;
const log = (message: string) => process.stderr.write(`${message}\n`);
const round = (ms: number) => (Number.isFinite(ms) ? String(Math.round(ms)) : 'n/a');
const seconds = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : 'n/a');

const personalMask = args.mask ? (JSON.parse(await readFile(args.mask, 'utf8')) as PersonalMask) : undefined;

// Photos.
const fixtures = await loadFixtures();
const faceBytes = await fixturePhoto(fixtures, args.photo);
const faceImage = await decodeImageNode(faceBytes);
const facePhoto: SpeedPhoto = { name: args.photo, bytes: faceBytes, width: faceImage.width, height: faceImage.height };
const facelessFixture = args['faceless-photo']
  ? { name: args['faceless-photo'], bytes: await fixturePhoto(fixtures, args['faceless-photo']) }
  : null;
log(`face photo ${args.photo} (${facePhoto.width}x${facePhoto.height}), strength ${strength}, backends ${backends.join(', ')}`);

interface BackendResult {
  backend: string;
  where: 'node' | 'chromium';
  /** The backend tfjs reported (a request for webgpu may be answered by another in theory; never silently). */
  actual: string;
  photo: CloakTiming;
  reducedSteps?: number;
  noFace: CloakTiming;
  /** The face photo again, started from the --mask personal mask (wasm only). */
  fromMask?: CloakTiming;
  error?: string;
}
const byBackend: BackendResult[] = [];
const series: {
  backend?: string;
  megapixels: (CloakTiming & { photo: string })[];
  faces: (CloakTiming & { photo: string; requested: number })[];
  noFace: { photo: string; megapixels: number; decodeMs: number; detectOnlyMs: number[]; medianMs: number; faces: number; quickCheck: 'answered' | 'sent on' }[];
} = { megapixels: [], faces: [], noFace: [] };
interface OpsResult {
  perRecognizer: Record<string, { forward: OpCount; gradient: OpCount }>;
  /** Detection and the first face's setup. */
  setup: OpCount;
  /** Whole one-face cloaks (detection included) and their mean step ((whole - setup) / steps: scoring amortised). */
  perStrength: Partial<Record<StrengthName, { steps: number; whole: OpCount; meanStep: OpCount }>>;
}
let ops: OpsResult | undefined;

// 1. Node backends.
const noFaceStandard = await syntheticScene(2);
for (const backend of backends.filter((b) => nodeBackends.includes(b))) {
  await useBackend([backend as BackendName]);
  log(`node ${backend}: loading the engine (ensemble ${productEnsemble.join(', ')})`);
  const engine = await createCloakEngine(readModelFileNode, { ensemble: productEnsemble });
  const detector = await createFaceDetector(readModelFileNode);
  try {
    const full = fullRunOn.has(backend);
    const options: TimeCloakOptions = { strength, seed, maxSteps: full ? undefined : reducedSteps, detect: (image) => detector.detect(image) };
    const image = faceImage;
    // Reduced runs leave step 1 out of the step time anyway; a warm-up step on cpu would cost half a minute.
    if (full) await warmUpCloak(engine, image, options);
    const photo = await timeCloak(engine, image, options);
    log(`node ${backend}: ${seconds(photo.totalMs)} s for ${photo.faces} face(s)`);
    const noFace = await timeCloak(engine, await decodeImageNode(noFaceStandard.bytes), { strength, seed });
    const fromMask = personalMask && backend === 'wasm' ? await timeCloak(engine, image, { ...options, personalMask }) : undefined;
    byBackend.push({ backend, where: 'node', actual: tf.getBackend(), photo, reducedSteps: full ? undefined : reducedSteps, noFace, fromMask });

    const seriesBackend = backends.find((b) => nodeBackends.includes(b));
    if (backend === seriesBackend && !args['skip-series']) {
      series.backend = backend;
      await runSeries(engine, detector, options);
    }
    if (backend === 'wasm' && !args['skip-ops']) ops = await countOperations(engine, image);
  } finally {
    engine.dispose();
    detector.dispose();
  }
  if (tf.memory().numTensors !== 0) log(`warning: ${tf.memory().numTensors} tensors still allocated on ${backend}`);
}

async function runSeries(engine: CloakEngine, detector: FaceDetector, options: TimeCloakOptions) {
  // Megapixels: the same photo rescaled. Quick runs extrapolate from a few steps.
  const mpOptions = quick ? { ...options, maxSteps: Math.max(2, reducedSteps) } : options;
  for (const mp of sizes) {
    const photo = await atMegapixels(args.photo, faceBytes, mp);
    const timing = await timeCloak(engine, await decodeImageNode(photo.bytes), mpOptions);
    series.megapixels.push({ photo: photo.name, ...timing });
    log(`  ${photo.name}: cloak ${seconds(timing.perFace[0]?.cloakMs ?? Number.NaN)} s/face, detect ${round(timing.detectMs)} ms`);
  }
  // Faces: copies of the photo at 0.5 MP tiled side by side, cloaked in full (a reduced run stops at the first face).
  const tile = await atMegapixels(args.photo, faceBytes, 0.5);
  for (const count of faceCounts) {
    const photo = count === 1 ? tile : await tiled(args.photo, tile, count);
    const timing = await timeCloak(engine, await decodeImageNode(photo.bytes), { ...options, maxSteps: undefined });
    series.faces.push({ photo: photo.name, requested: count, ...timing });
    log(`  ${photo.name}: ${timing.faces} face(s), ${seconds(timing.totalMs)} s`);
  }
  // No face: the engine returns after detection: the quick check (BlazeFace, then one Tiny pass) when it sees no face,
  // else the full cascade (SSD, then the Tiny retries, all finding nothing).
  const noFacePhotos: SpeedPhoto[] = [];
  if (facelessFixture) {
    const faceless = await decodeImageNode(facelessFixture.bytes);
    noFacePhotos.push({ name: `${facelessFixture.name} (fixture, as stored)`, bytes: facelessFixture.bytes, width: faceless.width, height: faceless.height });
  }
  for (const mp of noFaceSizes) {
    // Upscaled, a fixture can start to show a face to the detector: such sizes are left out below.
    if (facelessFixture) noFacePhotos.push(await atMegapixels(`${facelessFixture.name} (fixture)`, facelessFixture.bytes, mp));
    for (const noiseSeed of sceneSeeds) noFacePhotos.push(await syntheticScene(mp, noiseSeed));
  }
  for (const photo of noFacePhotos) {
    let started = performance.now();
    const image = await decodeImageNode(photo.bytes);
    const decodeMs = performance.now() - started;
    const found = await detector.detect(image);
    if (found.length > 0) {
      log(`  ${photo.name}: the detector finds ${found.length} face(s): left out of the no-face series`);
      continue;
    }
    const detectOnlyMs: number[] = [];
    for (let i = 0; i < noFaceRepeats; i++) {
      started = performance.now();
      const { outcome } = await runCloak(engine, image, { strength, seed });
      detectOnlyMs.push(performance.now() - started);
      if (outcome?.faces.length) throw new Error(`${photo.name} was cloaked: not face-less`);
    }
    // Whether the quick check answered alone or sent the photo on to the full cascade (which then found nothing).
    const quickCheck = (await detector.faceLikely(image)).likely ? 'sent on' : 'answered';
    series.noFace.push({ photo: photo.name, megapixels: (image.width * image.height) / 1e6, decodeMs, detectOnlyMs, medianMs: median(detectOnlyMs), faces: 0, quickCheck });
    log(`  ${photo.name}: detection only ${round(median(detectOnlyMs))} ms`);
  }
}

/**
 * Operation counts on wasm: each ensemble recognizer's forward and input gradient alone (batch 1), and the engine's
 * own cloak of the one-face photo profiled through the public API: detection + setup (a call aborted before its
 * first step) and whole runs per strength (quick: the benchmark's strength only; the others scaled from its steps).
 */
async function countOperations(engine: CloakEngine, image: Parameters<CloakEngine['cloak']>[0]): Promise<OpsResult> {
  const perRecognizer: Record<string, { forward: OpCount; gradient: OpCount }> = {};
  for (const id of productEnsemble) {
    const recognizer = await loadRecognizer(id, readModelFileNode);
    const faces = tf.randomUniform([1, recognizer.inputSize, recognizer.inputSize, 3], 0, 255, 'float32', 1) as tf.Tensor4D;
    try {
      const forward = await countOps(async () => {
        const out = tf.tidy(() => recognizer.embed(faces));
        await out.data();
        out.dispose();
      });
      const gradient = await countOps(async () => {
        const g = tf.grad((x: tf.Tensor) => tf.sum(recognizer.embed(x as tf.Tensor4D)))(faces);
        await g.data();
        g.dispose();
      });
      perRecognizer[id] = { forward, gradient };
    } finally {
      faces.dispose();
      recognizer.dispose();
    }
  }
  const setup = await countOps(() => runCloak(engine, image, { strength, seed }, 0));
  const perStrength: OpsResult['perStrength'] = {};
  for (const s of quick ? [strength] : (Object.keys(strengthSettings) as StrengthName[])) {
    const whole = await countOps(() => runCloak(engine, image, { strength: s, seed }));
    const steps = strengthSettings[s].steps;
    perStrength[s] = { steps, whole, meanStep: subtractOps(whole, setup, steps) };
    log(`counted operations of a whole ${s} cloak (${steps} steps)`);
  }
  return { perRecognizer, setup, perStrength };
}

// 2. Chromium backends.
const wanted = backends.filter((b) => b in browserBackends);
if (wanted.length > 0) {
  let session: BrowserSession | undefined;
  try {
    session = await openBrowserSession();
    for (const backend of wanted) {
      const full = fullRunOn.has(backend);
      try {
        log(`chromium ${browserBackends[backend]}: ${full ? 'full run' : `reduced run (${reducedSteps} steps)`}`);
        const photo = await session.timeCloak(browserBackends[backend], facePhoto, { strength, seed, maxSteps: full ? undefined : reducedSteps, warmUp: true });
        const noFace = await session.timeCloak(browserBackends[backend], noFaceStandard, { strength, seed });
        byBackend.push({ backend, where: 'chromium', actual: photo.backend, photo, reducedSteps: full ? undefined : reducedSteps, noFace });
        log(`chromium ${backend}: ${seconds(photo.totalMs)} s`);
      } catch (error) {
        log(`chromium ${backend} failed: ${(error as Error).message}`);
        byBackend.push({ backend, where: 'chromium', actual: '?', error: (error as Error).message } as BackendResult);
      }
      await session.release();
    }
  } finally {
    await session?.close();
  }
}

// Report.
const targetFaceMs = 20_000;
const targetDetectMs = 300;
const check = (ok: boolean) => (ok ? 'meets' : 'misses');
console.log(`\nSpeed of the shipped cloak (ensemble ${productEnsemble.join(', ')}), strength ${strength} (${strengthSettings[strength].steps} steps), ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(
  `Photo: ${args.photo} ${facePhoto.width}x${facePhoto.height}. "reduced": the first face stopped after N steps and cloak/face extrapolated ` +
    `(model: setup x (2 + scored steps) + steps x median step, see cloak-timing.ts); "model s/face" shows the same model beside measured full runs.\n`,
);
console.log(
  formatTable(
    ['backend', 'run', 'faces', 'detect ms', 'setup ms', 'step ms', 'cloak s/face', 'model s/face', 'total s', 'no-face ms (2 MP)'],
    byBackend.map((r) =>
      r.error
        ? [`${r.where} ${r.backend}`, `error: ${r.error.split('\n')[0].slice(0, 70)}`, '', '', '', '', '', '', '', '']
        : [
            `${r.where} ${r.backend === 'chromium-wasm' || r.backend === 'chromium-cpu' ? r.actual : r.backend}${r.actual !== (browserBackends[r.backend] ?? r.backend) ? ` (got ${r.actual})` : ''}`,
            r.reducedSteps ? `reduced (${r.reducedSteps} steps)` : 'full',
            String(r.photo.faces),
            round(r.photo.detectMs),
            round(r.photo.perFace[0]?.setupMs ?? Number.NaN),
            round(r.photo.perFace[0]?.stepMs ?? Number.NaN),
            seconds(r.photo.perFace[0]?.cloakMs ?? Number.NaN),
            seconds(r.photo.perFace[0]?.extrapolatedMs ?? Number.NaN),
            seconds(r.photo.totalMs),
            round(r.noFace.totalMs),
          ],
    ),
  ),
);
const wasm = byBackend.find((r) => r.backend === 'wasm' && !r.error);
if (wasm) {
  const faceMs = wasm.photo.perFace[0]?.cloakMs ?? Number.NaN;
  console.log(
    `\nTarget: one face at mid <= 20 s on wasm (2 cores): ${strength === 'mid' ? `${seconds(faceMs)} s, ${check(faceMs <= targetFaceMs)}` : `not checked (this run is ${strength}; the target is for mid)`}`,
  );
  const masked = wasm.fromMask?.perFace[0];
  if (masked) {
    console.log(
      `From the personal mask ${args.mask}: ${seconds(masked.cloakMs)} s/face (${masked.steps} steps) against ${seconds(faceMs)} s ` +
        `(${wasm.photo.perFace[0]?.steps} steps) from noise: x${(masked.cloakMs / faceMs).toFixed(2)}`,
    );
  }
}

if (series.megapixels.length > 0) {
  console.log(`\nTime against megapixels (node ${series.backend}, one face, same photo rescaled${quick ? ', reduced runs' : ''})\n`);
  const base = series.megapixels[0];
  console.log(
    formatTable(
      ['photo', 'MP', 'face px', 'detect ms', 'setup ms', 'step ms', 'cloak s/face', 'total s', 'cloak vs first'],
      series.megapixels.map((t) => [
        `${t.width}x${t.height}`,
        t.megapixels.toFixed(1),
        t.faceWidths.map((w) => Math.round(w)).join(',') || '-',
        round(t.detectMs),
        round(t.perFace[0]?.setupMs ?? Number.NaN),
        round(t.perFace[0]?.stepMs ?? Number.NaN),
        seconds(t.perFace[0]?.cloakMs ?? Number.NaN),
        seconds(t.totalMs),
        `${((t.perFace[0]?.cloakMs ?? Number.NaN) / (base.perFace[0]?.cloakMs ?? Number.NaN)).toFixed(2)}x`,
      ]),
    ),
  );
}
if (series.faces.length > 0) {
  console.log(`\nTime against faces (node ${series.backend}, copies of the 0.5 MP photo side by side, full runs)\n`);
  const one = series.faces[0];
  console.log(
    formatTable(
      ['faces asked', 'faces cloaked', 'MP', 'detect ms', 'cloak s (all faces)', 'cloak s/face', 'total s', 'total vs 1 face'],
      series.faces.map((t) => {
        const cloakMs = t.perFace.reduce((s, f) => s + f.cloakMs, 0);
        return [
          String(t.requested),
          String(t.faces),
          t.megapixels.toFixed(1),
          round(t.detectMs),
          seconds(cloakMs),
          seconds(cloakMs / Math.max(1, t.faces)),
          seconds(t.totalMs),
          `${(t.totalMs / one.totalMs).toFixed(2)}x`,
        ];
      }),
    ),
  );
}
if (series.noFace.length > 0) {
  const all = series.noFace.flatMap((n) => n.detectOnlyMs);
  console.log(`\nDetection-only path, photos without a face (node ${series.backend}; engine.cloak returns after detecting nothing: the quick check alone ("answered") or the full cascade after it ("sent on"); median of ${noFaceRepeats})\n`);
  console.log(
    formatTable(
      ['photo', 'MP', 'decode ms', 'detect-only ms', 'quick check'],
      series.noFace.map((n) => [n.photo, n.megapixels.toFixed(1), round(n.decodeMs), round(n.medianMs), n.quickCheck]),
    ),
  );
  console.log(`\nTarget: detection-only <= 300 ms: median ${round(median(all))} ms over ${series.noFace.length} photos, ${check(median(all) <= targetDetectMs)}; worst ${round(Math.max(...series.noFace.map((n) => n.medianMs)))} ms`);
}

let estimate: { strength: string; steps: number; profiled: boolean; gflopPerFace: number; gflopConvention: number; kernelsPerFace: number; seconds: Record<string, number> }[] = [];
if (ops) {
  const o = ops;
  console.log('\nOperations per recognizer (batch 1, profiled kernels on wasm; GFLOP = 2 x GMAC)\n');
  console.log(
    formatTable(
      ['recognizer', 'forward GFLOP', 'forward kernels', 'fwd+input-grad GFLOP', 'fwd+grad kernels', 'grad / forward'],
      Object.entries(o.perRecognizer).map(([id, r]) => [
        id,
        ((2 * r.forward.macs) / 1e9).toFixed(2),
        String(r.forward.kernels),
        ((2 * r.gradient.macs) / 1e9).toFixed(2),
        String(r.gradient.kernels),
        `${(r.gradient.macs / r.forward.macs).toFixed(2)}x`,
      ]),
    ),
  );
  const forwardSum = Object.values(o.perRecognizer).reduce((sum, r) => sum + r.forward.macs, 0);
  const profiled = o.perStrength[strength]!;
  const step = profiled.meanStep;
  console.log(
    `\nOne ${strength} cloak of the one-face photo, profiled: ${((2 * profiled.whole.macs) / 1e9).toFixed(1)} GFLOP in ${profiled.whole.kernels} kernels ` +
      `(${seconds(profiled.whole.kernelMs)} s of wasm kernel time), of which detection + setup ${((2 * o.setup.macs) / 1e9).toFixed(1)} GFLOP in ${o.setup.kernels} kernels; ` +
      `a mean step ${((2 * step.macs) / 1e9).toFixed(2)} GFLOP in ${Math.round(step.kernels)} kernels. ` +
      `Convention (every member every step, 3 x forward for forward + input gradient): ${((2 * 3 * forwardSum) / 1e9).toFixed(2)} GFLOP per step.`,
  );
  const top = Object.entries(step.byKernel)
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, 10);
  console.log(`\nWhere a mean ${strength} step spends its wasm kernel time (top 10 kernels)\n`);
  console.log(
    formatTable(
      ['kernel', 'calls/step', 'GFLOP/step', 'ms/step', 'share'],
      top.map(([name, t]) => [name, t.count.toFixed(0), ((2 * t.macs) / 1e9).toFixed(2), round(t.ms), `${((100 * t.ms) / step.kernelMs).toFixed(0)}%`]),
    ),
  );
  estimate = (Object.keys(strengthSettings) as StrengthName[]).map((s) => {
    const steps = strengthSettings[s].steps;
    // Profiled whole runs where there is one; otherwise setup + steps x the profiled strength's mean step.
    const work = o.perStrength[s]?.whole ?? faceWork(o.setup, step, steps);
    return {
      strength: s,
      steps,
      profiled: o.perStrength[s] !== undefined,
      gflopPerFace: (2 * work.macs) / 1e9,
      gflopConvention: (2 * 3 * forwardSum * steps) / 1e9,
      kernelsPerFace: work.kernels,
      seconds: Object.fromEntries(laptopGpuAssumptions.map((g) => [g.name, estimateSeconds(work, g)])),
    };
  });
  console.log('\nLaptop GPU estimate under WebGPU, one face incl. detection, from operation counts (bench/speed/estimate.ts:');
  console.log('sustained fp32 = laptop peak 2-9 TFLOPS, ~50 % efficiency, / 4.9 browser-vs-native gap (Wang et al., ACM TOSEM 2025); 20 us per kernel dispatch)\n');
  console.log(
    formatTable(
      ['strength', 'steps', 'GFLOP/face', 'GFLOP (convention)', 'kernels', ...laptopGpuAssumptions.map((g) => `s @ ${g.name}`)],
      estimate.map((e) => [
        `${e.strength}${e.profiled ? '' : ' (scaled)'}`,
        String(e.steps),
        e.gflopPerFace.toFixed(0),
        e.gflopConvention.toFixed(0),
        String(Math.round(e.kernelsPerFace)),
        ...laptopGpuAssumptions.map((g) => e.seconds[g.name].toFixed(1)),
      ]),
    ),
  );
}

let commit = '';
try {
  commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
} catch {
  commit = 'unknown';
}
const result = {
  bench: 'speed',
  date: new Date().toISOString(),
  commit,
  machine: { cores: cpus().length, model: cpus()[0]?.model, loadavg: loadavg(), node: process.version, tfjs: tf.version.tfjs },
  strength,
  steps: strengthSettings[strength].steps,
  ensemble: productEnsemble,
  photo: { id: args.photo, width: facePhoto.width, height: facePhoto.height },
  quick,
  targets: { oneFaceMidWasmMs: targetFaceMs, detectOnlyMs: targetDetectMs },
  byBackend,
  series,
  ops,
  gpuEstimate: { assumptions: laptopGpuAssumptions, perStrength: estimate },
};
await mkdir('bench/results', { recursive: true });
const out = args.out ?? `bench/results/speed-${result.date.replace(/[:.]/g, '-')}.json`;
await writeFile(out, JSON.stringify(result, null, 2));
log(`wrote ${out}`);
console.log(
  JSON.stringify({
    bench: 'speed',
    strength,
    byBackend: byBackend.map((r) => ({ backend: r.backend, run: r.reducedSteps ? `reduced-${r.reducedSteps}` : 'full', detectMs: r.photo?.detectMs, cloakMsPerFace: r.photo?.perFace[0]?.cloakMs, fromMaskMsPerFace: r.fromMask?.perFace[0]?.cloakMs, totalMs: r.photo?.totalMs, noFaceMs: r.noFace?.totalMs, error: r.error })),
    megapixels: series.megapixels.map((t) => ({ mp: t.megapixels, detectMs: t.detectMs, cloakMsPerFace: t.perFace[0]?.cloakMs })),
    faces: series.faces.map((t) => ({ faces: t.faces, totalMs: t.totalMs })),
    detectOnlyMedianMs: series.noFace.length > 0 ? median(series.noFace.flatMap((n) => n.detectOnlyMs)) : undefined,
    gpuEstimateSeconds: estimate.map((e) => ({ strength: e.strength, ...e.seconds })),
    out,
  }),
);
