/**
 * The Quick start's main job (`npm run demo`, after `npm run build`): take face-api's group photo, run the face
 * pipeline inside the built extension in headless Chromium, cloak the photo through the extension's protect page at
 * mid strength (the product path: page -> background -> offscreen document -> engine -> encoder, with the real file
 * input and download), then measure the protection matrix for that photo in Node: the original, the noise control and
 * the extension's cloaked file, each recognizer, each defense a site or tracker applies, faces re-detected from the
 * file on disk. Rows of recognizers the cloak optimised against are marked: only the held-out ones are evidence.
 *
 * Prints the tables and ends with one JSON line starting {"bench":"demo".
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cosineSimilarity } from '../src/engine/diagnostics/gradient-check.ts';
import { productEnsemble } from '../src/engine/cloak/ensemble.ts';
import type { RecognizerId } from '../src/engine/faces/types.ts';
import { recognizerEntry } from '../src/engine/models/manifest.ts';
import { recognizerIds } from '../src/engine/recognizers/zoo.ts';
import { launchExtension, openEngineLab, runInEngineLab } from '../test/browser/harness.ts';
import { faceApiDemoDir } from '../test/support/photos.ts';
import { formatTable, num } from './lib/table.ts';
import { cloakerFactories } from './protection/cloakers.ts';
import { allDefenses } from './protection/defenses.ts';
import { evasionOutcomes } from './protection/evaluate.ts';
import { createMeasurer } from './protection/measure.ts';

const photoName = process.argv[2] ?? 'sample1.jpg';
const bytes = new Uint8Array(await readFile(join(faceApiDemoDir, photoName)));
const cloakers = ['none', 'noise', 'extension-mid'];
/** One photo at mid on 2 cores takes ~16 s a face; sample1.jpg has three. */
const CLOAK_TIMEOUT_MS = 600_000;

// 1. The engine inside the extension: the face pipeline on the engine lab page, then the cloak through the protect page.
const h = await launchExtension();
let inBrowser: Awaited<ReturnType<typeof runInEngineLab<'analyze'>>>;
let cloaked: { bytes: Uint8Array; status: string; ms: number };
try {
  const lab = await openEngineLab(h);
  inBrowser = await runInEngineLab(lab, 'analyze', [Buffer.from(bytes).toString('base64')]);
  await lab.close();
  const protect = await h.openExtensionPage('protect.html');
  await protect.getByRole('radio', { name: /^Medium/ }).check();
  const started = performance.now();
  await protect.getByTestId('file-input').setInputFiles(join(faceApiDemoDir, photoName));
  const card = protect.getByTestId('item').filter({ has: protect.getByRole('heading', { name: photoName, exact: true }) });
  await card.and(protect.locator('[data-state="done"], [data-state="failed"]')).waitFor({ timeout: CLOAK_TIMEOUT_MS });
  const status = (await card.getByTestId('status').textContent()) ?? '';
  if (!/^Protected: /.test(status)) throw new Error(`the protect page did not cloak ${photoName}: ${status}`);
  const ms = performance.now() - started;
  const [download] = await Promise.all([protect.waitForEvent('download'), card.getByTestId('download').click()]);
  cloaked = { bytes: new Uint8Array(await readFile((await download.path())!)), status, ms };
  if (h.networkRequests().length > 0) throw new Error(`the extension made network requests: ${JSON.stringify(h.networkRequests())}`);
} finally {
  await h.close();
}
console.log(
  `\n${photoName} (${inBrowser.width}x${inBrowser.height}) in the built extension, backend ${inBrowser.backend}: ` +
    `${inBrowser.faces.length} faces; decode ${Math.round(inBrowser.decodeMs)} ms, models ${Math.round(inBrowser.loadMs)} ms, ` +
    `detect + align + embed (${recognizerIds.length} recognizers) ${Math.round(inBrowser.analyzeMs)} ms.\n` +
    `Protect page, strength mid: "${cloaked.status}" in ${(cloaked.ms / 1000).toFixed(1)} s (models load with the first photo); ` +
    `downloaded ${cloaked.bytes.length} bytes (original ${bytes.length}); 0 network requests`,
);
// The extension's file, as a cloaker of the benchmark, so it is measured exactly like the others.
cloakerFactories['extension-mid'] = async () => ({
  id: 'extension-mid',
  describe: "the built extension's protect page at mid (the file it downloaded)",
  cloak: async () => cloaked.bytes,
});

// 2. The protection matrix, measured in Node on the file as written to disk.
const tempDir = await mkdtemp(join(tmpdir(), 'face-cloak-demo-'));
try {
  for (const cloaker of cloakers) await mkdir(join(tempDir, cloaker), { recursive: true });
  const measurer = await createMeasurer({
    cloakers,
    defenses: 'all',
    recognizers: [...recognizerIds],
    noiseEpsilon: 8,
    cloakSeed: 1,
    minIou: 0.3,
    facesDir: faceApiDemoDir,
    tempDir,
  });
  const result = await measurer.measure({
    id: `demo/${photoName}`,
    set: 'demo',
    identity: 'demo',
    file: photoName,
    width: inBrowser.width,
    height: inBrowser.height,
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  });
  measurer.dispose();
  if (!result.clean) throw new Error(`no face found in ${photoName}`);

  // The browser and Node engines must agree on the same face.
  const browserFace = inBrowser.faces[0];
  const agreement = recognizerIds.map((id) => `${id} ${num(cosineSimilarity(browserFace.embeddings[id], result.clean!.embeddings[id]!), 4)}`);
  console.log(`Largest face, extension vs Node embeddings (cosine): ${agreement.join(', ')}`);

  const defenses = allDefenses.map((d) => d.id);
  const rows: string[][] = [];
  const matrix: Record<string, Record<string, Record<string, number | null>>> = {};
  for (const cloaker of cloakers) {
    matrix[cloaker] = {};
    for (const id of recognizerIds as readonly RecognizerId[]) {
      const threshold = recognizerEntry(id).thresholdAt1PctFar ?? Number.NaN;
      matrix[cloaker][id] = {};
      const cells = defenses.map((defense) => {
        const [outcome] = evasionOutcomes([result], cloaker, defense, id);
        const similarity = outcome?.detected ? outcome.similarity : null;
        matrix[cloaker][id][defense] = similarity;
        if (similarity === null) return 'lost';
        return `${similarity.toFixed(2)}${similarity < threshold ? '*' : ''}`;
      });
      rows.push([cloaker, id, productEnsemble.includes(id) ? 'seen' : 'held out', num(threshold, 2), ...cells]);
    }
  }
  console.log(
    `\nProtection matrix for the largest face: cosine similarity of the cloaked, then defended, re-detected face to the ` +
      `clean face. * = below the recognizer's 1 %-FAR threshold (no longer matched); lost = face not re-detected.\n` +
      `Cloakers: none = the original file; noise = uniform ±8/255 noise on the faces, a control that should protect ` +
      `little; extension-mid = the file the extension's protect page made at mid. Only "held out" rows are evidence of ` +
      `protection: the cloak optimised against the "seen" ones (${productEnsemble.join(', ')}).\n`,
  );
  console.log(formatTable(['cloaker', 'recognizer', 'judge', 'thr', ...defenses], rows));
  for (const cloaker of ['noise', 'extension-mid']) {
    const q = result.quality[cloaker];
    if (q) console.log(`${cloaker} quality: face SSIM ${num(q.ssimFace)}, PSNR ${num(q.psnrFace, 1)} dB; whole photo SSIM ${num(q.ssimWhole)}`);
  }
  console.log(JSON.stringify({ bench: 'demo', photo: photoName, browser: { backend: inBrowser.backend, faces: inBrowser.faces.length, analyzeMs: inBrowser.analyzeMs, cloakMs: cloaked.ms, cloakStatus: cloaked.status }, heldOut: recognizerIds.filter((id) => !productEnsemble.includes(id)), matrix, quality: result.quality }));
} finally {
  await rm(tempDir, { recursive: true, force: true });
}
