/**
 * The quick face-presence check (src/engine/detect/face-presence.ts) against the full detector cascade (SSD, then the
 * Tiny retries): does the check ever call a photo face-free where the cascade finds a face (a face uploaded
 * uncloaked), how often does it send a face-free photo on to the cascade anyway, and what each path costs.
 *
 *   npx tsx bench/detection/run.ts [--limit-photos N] [--faces DIR]
 *
 * Samples, made in memory from ../shared/faces and face-api's demo photos (never written into the repository):
 * every fixture photo; a tight crop of its largest face (the face fills the frame); the largest strip beside its
 * faces (face-free, or nearly: hands, hair, clothes, scenery); face-api's six group photos as they are and shrunk to
 * 1/3 and 1/6 inside a frame of the original size (small faces); two synthetic scenes. Node, wasm, 2 cores: medians.
 * Prints a table per sample set and one JSON line starting {"bench":"detection".
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { useBackend } from '../../src/engine/backends/backends.ts';
import { createFaceDetector, presenceThreshold, quickTinyThreshold } from '../../src/engine/detect/detector.ts';
import { decodeImageNode } from '../../src/engine/image/decode-node.ts';
import { cropRgb } from '../../src/engine/image/pixels.ts';
import type { RgbImage } from '../../src/engine/image/types.ts';
import { readModelFileNode } from '../../src/engine/models/read-node.ts';
import { faceApiDemoDir, tightCrop } from '../../test/support/photos.ts';
import { defaultFacesDir, loadFixtures, readPhoto } from '../lib/fixtures.ts';
import { median } from '../lib/stats.ts';
import { formatTable, num } from '../lib/table.ts';
import { syntheticScene } from '../speed/photos.ts';

const { values: args } = parseArgs({
  options: {
    'limit-photos': { type: 'string' },
    faces: { type: 'string', default: defaultFacesDir() },
  },
});

await useBackend(['wasm']);
const detector = await createFaceDetector(readModelFileNode);

interface Sample {
  set: string;
  name: string;
  image: RgbImage;
}
const samples: Sample[] = [];
const fixtures = await loadFixtures(args.faces);
for (const photo of fixtures.photos.slice(0, args['limit-photos'] ? Number(args['limit-photos']) : undefined)) {
  const image = await decodeImageNode(await readPhoto(fixtures.dir, photo));
  samples.push({ set: 'fixture', name: photo.id, image });
  const boxes = (await detector.detect(image)).map((face) => face.box);
  if (boxes.length === 0) continue;
  const [largest] = boxes;
  samples.push({ set: 'tight crop', name: photo.id, image: tightCrop(image, largest) });
  // The largest full-height or full-width strip that keeps clear of every face box grown by half its size.
  const x0 = Math.max(0, Math.min(...boxes.map((b) => b.x - b.width * 0.5)));
  const x1 = Math.min(image.width, Math.max(...boxes.map((b) => b.x + b.width * 1.5)));
  const y0 = Math.max(0, Math.min(...boxes.map((b) => b.y - b.height * 0.5)));
  const y1 = Math.min(image.height, Math.max(...boxes.map((b) => b.y + b.height * 1.5)));
  const [strip] = [
    { x: 0, y: 0, width: Math.floor(x0), height: image.height },
    { x: Math.ceil(x1), y: 0, width: image.width - Math.ceil(x1), height: image.height },
    { x: 0, y: 0, width: image.width, height: Math.floor(y0) },
    { x: 0, y: Math.ceil(y1), width: image.width, height: image.height - Math.ceil(y1) },
  ]
    .filter((s) => s.width >= 64 && s.height >= 64)
    .sort((a, b) => b.width * b.height - a.width * a.height);
  if (strip) samples.push({ set: 'beside the faces', name: photo.id, image: cropRgb(image, strip) });
}
for (let i = 1; i <= 6; i++) {
  const bytes = new Uint8Array(await readFile(join(faceApiDemoDir, `sample${i}.jpg`)));
  const image = await decodeImageNode(bytes);
  samples.push({ set: 'group', name: `sample${i}`, image });
  for (const shrink of [3, 6]) {
    const small = await sharp(bytes).resize(Math.round(image.width / shrink)).toBuffer();
    const framed = await sharp({ create: { width: image.width, height: image.height, channels: 3, background: { r: 120, g: 130, b: 110 } } })
      .composite([{ input: small, left: Math.round(image.width * 0.3), top: Math.round(image.height * 0.4) }])
      .jpeg()
      .toBuffer();
    samples.push({ set: `group at 1/${shrink}`, name: `sample${i}`, image: await decodeImageNode(new Uint8Array(framed)) });
  }
}
for (const megapixels of [0.5, 2]) {
  const scene = await syntheticScene(megapixels);
  samples.push({ set: 'synthetic scene', name: scene.name, image: await decodeImageNode(scene.bytes) });
}
console.error(`${samples.length} samples`);

interface Row {
  set: string;
  name: string;
  /** Faces the full cascade finds. */
  faces: number;
  presenceScore: number;
  /** The quick check sends the photo on to the full cascade. */
  likely: boolean;
  cascadeMs: number;
  checkMs: number;
  /** detect() as the cloak calls it (quickNoFace). */
  quickMs: number;
  quickFaces: number;
}
const rows: Row[] = [];
for (const sample of samples) {
  let started = performance.now();
  const faces = (await detector.detect(sample.image)).length;
  const cascadeMs = performance.now() - started;
  started = performance.now();
  const { likely, presenceScore } = await detector.faceLikely(sample.image);
  const checkMs = performance.now() - started;
  started = performance.now();
  const quickFaces = (await detector.detect(sample.image, { quickNoFace: true })).length;
  const quickMs = performance.now() - started;
  rows.push({ set: sample.set, name: sample.name, faces, presenceScore, likely, cascadeMs, checkMs, quickMs, quickFaces });
}

const sets = [...new Set(rows.map((r) => r.set))];
const summary = sets.map((set) => {
  const inSet = rows.filter((r) => r.set === set);
  const withFace = inSet.filter((r) => r.faces > 0);
  const without = inSet.filter((r) => r.faces === 0);
  return {
    set,
    samples: inSet.length,
    withFace: withFace.length,
    // The failure that matters: the cascade finds a face, the quick path calls the photo face-free.
    missed: withFace.filter((r) => r.quickFaces === 0).map((r) => r.name),
    lowestScoreWithFace: Math.min(...withFace.map((r) => r.presenceScore)),
    withoutFace: without.length,
    withoutFaceSentOn: without.filter((r) => r.likely).length,
    cascadeMsWithout: median(without.map((r) => r.cascadeMs)),
    quickMsWithout: median(without.map((r) => r.quickMs)),
    checkMs: median(inSet.map((r) => r.checkMs)),
  };
});
console.log(
  formatTable(
    ['set', 'samples', 'face (cascade)', 'missed by quick path', 'lowest BlazeFace score with a face', 'no face', 'of them sent on', 'no face: cascade ms', 'no face: quick ms', 'check ms'],
    summary.map((s) => [
      s.set,
      String(s.samples),
      String(s.withFace),
      s.missed.length ? `${s.missed.length} (${s.missed.slice(0, 3).join(', ')})` : '0',
      s.withFace ? num(s.lowestScoreWithFace) : 'n/a',
      String(s.withoutFace),
      String(s.withoutFaceSentOn),
      s.withoutFace ? String(Math.round(s.cascadeMsWithout)) : 'n/a',
      s.withoutFace ? String(Math.round(s.quickMsWithout)) : 'n/a',
      String(Math.round(s.checkMs)),
    ]),
  ),
);
const missed = summary.reduce((n, s) => n + s.missed.length, 0);
console.log(
  `quick check: BlazeFace >= ${presenceThreshold} or Tiny 416 >= ${quickTinyThreshold}; "no face" = the full cascade finds none (tight crops ` +
    `it misses count here although they show a face); "sent on" = the check calls a face likely, so the quick path runs the full cascade too`,
);
console.log(
  JSON.stringify({
    bench: 'detection',
    presenceThreshold,
    quickTinyThreshold,
    samples: rows.length,
    withFace: rows.filter((r) => r.faces > 0).length,
    missedByQuickPath: missed,
    lowestScoreWithFace: Math.min(...rows.filter((r) => r.faces > 0).map((r) => r.presenceScore)),
    noFace: rows.filter((r) => r.faces === 0).length,
    noFaceSentOn: rows.filter((r) => r.faces === 0 && r.likely).length,
    noFaceCascadeMs: Math.round(median(rows.filter((r) => r.faces === 0).map((r) => r.cascadeMs))),
    noFaceQuickMs: Math.round(median(rows.filter((r) => r.faces === 0).map((r) => r.quickMs))),
    // The face-free photos the check answers alone: what the no-face path costs when it works.
    noFaceAnsweredByCheckMs: Math.round(median(rows.filter((r) => r.faces === 0 && !r.likely).map((r) => r.quickMs))),
    sets: summary,
  }),
);
detector.dispose();
