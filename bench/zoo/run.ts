/**
 * The recognizer zoo benchmark: how well each recognizer recognises the fixture identities (AUC, TAR at 1 % FAR,
 * rank-1, and the 1 %-FAR threshold that every protection number depends on), and what a forward pass and an input
 * gradient cost per backend: wasm and cpu in Node, and with --browser webgl, webgpu, wasm and cpu inside the built
 * extension in headless Chromium (SwiftShader here: reported, not tuned for).
 *
 *   npx tsx bench/zoo/run.ts [--browser] [--skip-timing] [--write-thresholds] [--limit-per-identity N] [--repeats 5]
 *
 * --write-thresholds stores the measured thresholds in models/manifest.json (thresholdAt1PctFar).
 * Prints a table, writes bench/results/zoo-<time>.json and ends with one JSON line starting {"bench":"zoo".
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backends/backends.ts';
import { createFaceDetector } from '../../src/engine/detect/detector.ts';
import { createDetectorPair } from './detectors.ts';
import { timeRecognizer } from '../../src/engine/diagnostics/gradient-check.ts';
import type { RecognizerId } from '../../src/engine/faces/types.ts';
import { decodeImageNode } from '../../src/engine/image/decode-node.ts';
import { modelManifest } from '../../src/engine/models/manifest.ts';
import { readModelFileNode } from '../../src/engine/models/read-node.ts';
import { createFaceAnalyzer } from '../../src/engine/pipeline.ts';
import { loadRecognizer, recognizerIds } from '../../src/engine/recognizers/zoo.ts';
import { loadFixtures, readPhoto, selectPhotos } from '../lib/fixtures.ts';
import { median } from '../lib/stats.ts';
import { formatTable, num, pct } from '../lib/table.ts';
import type { LabelledEmbedding } from '../protection/metrics.ts';
import { type VerificationSummary, summariseVerification } from './verification.ts';

const { values: args } = parseArgs({
  options: {
    browser: { type: 'boolean', default: false },
    'skip-timing': { type: 'boolean', default: false },
    'write-thresholds': { type: 'boolean', default: false },
    'limit-per-identity': { type: 'string' },
    repeats: { type: 'string', default: '5' },
    out: { type: 'string' },
  },
});
const repeats = Number(args.repeats);
const log = (message: string) => process.stderr.write(`${message}\n`);

// 1. Accuracy on the fixtures (wasm), largest face per photo.
await useBackend(['wasm']);
const fixtures = await loadFixtures();
const photos = selectPhotos(fixtures.photos, undefined, args['limit-per-identity'] ? Number(args['limit-per-identity']) : undefined);
const analyzer = await createFaceAnalyzer(readModelFileNode);
const items = new Map<RecognizerId, LabelledEmbedding[]>(recognizerIds.map((id) => [id, []]));
const detectMs: number[] = [];
const analyzeMs: number[] = [];
let missed = 0;
const detector = await createFaceDetector(readModelFileNode);
const detectorPair = await createDetectorPair(readModelFileNode);
const comparison = { ssd: { photosWithFace: 0, ms: [] as number[] }, tiny: { photosWithFace: 0, ms: [] as number[] } };
for (const [i, photo] of photos.entries()) {
  const image = await decodeImageNode(await readPhoto(fixtures.dir, photo));
  for (const kind of ['ssd', 'tiny'] as const) {
    const run = await detectorPair[kind](image);
    if (run.found > 0) comparison[kind].photosWithFace++;
    comparison[kind].ms.push(run.ms);
  }
  let started = performance.now();
  await detector.detect(image);
  detectMs.push(performance.now() - started);
  started = performance.now();
  const faces = await analyzer.analyze(image);
  analyzeMs.push(performance.now() - started);
  if (faces.length === 0) {
    missed++;
    log(`no face: ${photo.file}`);
    continue;
  }
  for (const id of recognizerIds) items.get(id)!.push({ label: photo.identity, embedding: faces[0].embeddings[id]! });
  if ((i + 1) % 20 === 0) log(`analysed ${i + 1}/${photos.length}`);
}
detector.dispose();
detectorPair.dispose();
analyzer.dispose();
const accuracy = new Map<RecognizerId, VerificationSummary>(recognizerIds.map((id) => [id, summariseVerification(items.get(id)!)]));

// 2. Cost per forward pass and input gradient, Node backends.
type Timing = { forwardMs: number; gradientMs: number; firstForwardMs: number };
const timings: Record<string, Partial<Record<RecognizerId, Timing>>> = {};
for (const backend of args['skip-timing'] ? [] : (['wasm', 'cpu'] as const)) {
  await useBackend([backend]);
  timings[`node ${backend}`] = {};
  for (const id of recognizerIds) {
    const recognizer = await loadRecognizer(id, readModelFileNode);
    timings[`node ${backend}`][id] = await timeRecognizer(recognizer, backend === 'cpu' ? Math.min(repeats, 3) : repeats);
    recognizer.dispose();
    log(`timed ${id} on node ${backend}`);
  }
}
if (tf.memory().numTensors !== 0) log(`warning: ${tf.memory().numTensors} tensors still allocated`);

// 3. The same inside the extension in headless Chromium.
if (args.browser) {
  const { launchExtension, openEngineLab, runInEngineLab } = await import('../../test/browser/harness.ts');
  const h = await launchExtension();
  try {
    const lab = await openEngineLab(h);
    for (const backend of ['webgpu', 'webgl', 'wasm', 'cpu']) {
      timings[`chromium ${backend}`] = {};
      for (const id of recognizerIds) {
        timings[`chromium ${backend}`][id] = await runInEngineLab(lab, 'timeRecognizer', [backend, id, backend === 'wasm' ? repeats : 2]);
        log(`timed ${id} on chromium ${backend}`);
      }
    }
  } finally {
    await h.close();
  }
}

// Report.
const manifestById = new Map(modelManifest.models.map((m) => [m.id, m]));
const accuracyRows = recognizerIds.map((id) => {
  const a = accuracy.get(id)!;
  const entry = manifestById.get(id)!;
  return [id, entry.family ?? '', `${entry.input.size} ${entry.input.channels}`, String(entry.embedding?.dim), num(a.auc), pct(a.tarAt1PctFar), pct(a.rank1), num(a.thresholdAt1PctFar)];
});
const timingColumns = Object.keys(timings);
const timingRows = recognizerIds.map((id) => [
  id,
  ...timingColumns.map((column) => {
    const t = timings[column][id];
    return t ? `${Math.round(t.forwardMs)} / ${Math.round(t.gradientMs)}` : 'n/a';
  }),
]);
console.log(`\nRecognizer zoo on ${fixtures.dir}: ${items.get(recognizerIds[0])!.length} photos with a face (${missed} without), ${new Set(photos.map((p) => p.identity)).size} identities, largest face per photo`);
console.log(`Detection (SSD MobileNet v1 + 68 landmarks, wasm): median ${Math.round(median(detectMs))} ms per photo; full analysis (detect + ${recognizerIds.length} recognizers) median ${Math.round(median(analyzeMs))} ms\n`);
console.log(
  formatTable(
    ['detector (one pass, no retries)', 'photos with a face', 'median ms'],
    (['ssd', 'tiny'] as const).map((kind) => [
      kind === 'ssd' ? 'SSD MobileNet v1 (the first pass)' : 'Tiny Face Detector 416 (the retries when SSD finds nothing)',
      `${comparison[kind].photosWithFace}/${photos.length}`,
      String(Math.round(median(comparison[kind].ms))),
    ]),
  ),
);
console.log('');
console.log(formatTable(['recognizer', 'family', 'input', 'dim', 'AUC', 'TAR@1%FAR', 'rank-1', 'thr@1%FAR'], accuracyRows));
console.log(`\nms per forward / per input gradient, batch 1 (median of ${repeats}; cpu and GPU backends fewer)\n`);
console.log(formatTable(['recognizer', ...timingColumns], timingRows));

const result = {
  bench: 'zoo',
  date: new Date().toISOString(),
  fixtures: { dir: fixtures.dir, manifestSha256: fixtures.manifestSha256, photos: photos.length, missed },
  tfjs: tf.version.tfjs,
  detection: { medianDetectMs: median(detectMs), medianAnalyzeMs: median(analyzeMs) },
  detectorComparison: Object.fromEntries(
    Object.entries(comparison).map(([kind, c]) => [kind, { photosWithFace: c.photosWithFace, photos: photos.length, medianMs: median(c.ms) }]),
  ),
  accuracy: Object.fromEntries(accuracy),
  timings,
};
await mkdir('bench/results', { recursive: true });
const out = args.out ?? `bench/results/zoo-${result.date.replace(/[:.]/g, '-')}.json`;
await writeFile(out, JSON.stringify(result, null, 2));
log(`wrote ${out}`);

if (args['write-thresholds']) {
  const path = new URL('../../models/manifest.json', import.meta.url);
  const manifest = JSON.parse(await readFile(path, 'utf8')) as typeof modelManifest;
  for (const entry of manifest.models) {
    const a = accuracy.get(entry.id as RecognizerId);
    if (a) entry.thresholdAt1PctFar = Number(a.thresholdAt1PctFar.toFixed(4));
  }
  await writeFile(path, JSON.stringify(manifest, null, 2) + '\n');
  log('thresholds written to models/manifest.json');
}
console.log(JSON.stringify({ bench: 'zoo', accuracy: result.accuracy, timings, out }));
