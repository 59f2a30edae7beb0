/**
 * Verifies each recognizer's input convention empirically instead of trusting documentation: the same detected
 * faces are embedded under other channel orders and crop scales, and the manifest's convention must be the best (or
 * within noise of it) by AUC and TAR at 1 % FAR on ../shared/faces.
 *
 *   npx tsx bench/zoo/conventions.ts [--limit-per-identity 6]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backends/backends.ts';
import { createFaceDetector } from '../../src/engine/detect/detector.ts';
import type { Point, RecognizerId } from '../../src/engine/faces/types.ts';
import { decodeImageNode } from '../../src/engine/image/decode-node.ts';
import type { RgbImage } from '../../src/engine/image/types.ts';
import { type ModelEntry, recognizerEntry } from '../../src/engine/models/manifest.ts';
import { readModelFileNode } from '../../src/engine/models/read-node.ts';
import { embedFaces } from '../../src/engine/pipeline.ts';
import { loadRecognizer, recognizerIds } from '../../src/engine/recognizers/zoo.ts';
import { loadFixtures, readPhoto, selectPhotos } from '../lib/fixtures.ts';
import { formatTable, num, pct } from '../lib/table.ts';
import { summariseVerification } from './verification.ts';

const { values: args } = parseArgs({ options: { 'limit-per-identity': { type: 'string', default: '6' } } });
await useBackend(['wasm']);
const fixtures = await loadFixtures();
const photos = selectPhotos(fixtures.photos, undefined, Number(args['limit-per-identity']));
const detector = await createFaceDetector(readModelFileNode);
const faces: { identity: string; image: RgbImage; landmarks: Point[] }[] = [];
for (const photo of photos) {
  const image = await decodeImageNode(await readPhoto(fixtures.dir, photo));
  const [face] = await detector.detect(image);
  if (face) faces.push({ identity: photo.identity, image, landmarks: face.landmarks });
}
detector.dispose();

const variants = (entry: ModelEntry): { label: string; entry: ModelEntry }[] => {
  const out: { label: string; entry: ModelEntry }[] = [];
  for (const channels of ['RGB', 'BGR'] as const) {
    for (const cropScale of [0.9, 1.0, 1.1, 1.25]) {
      const manifest = channels === entry.input.channels && cropScale === (entry.alignment?.cropScale ?? 1);
      out.push({
        label: `${channels} crop x${cropScale}${manifest ? ' (manifest)' : ''}`,
        entry: { ...entry, input: { ...entry.input, channels }, alignment: { template: 'arcface-5pt', cropScale } },
      });
    }
  }
  return out;
};

const rows: string[][] = [];
for (const id of recognizerIds as readonly RecognizerId[]) {
  for (const variant of variants(recognizerEntry(id))) {
    const recognizer = await loadRecognizer(id, readModelFileNode, variant.entry);
    const items = [];
    for (const face of faces) {
      const photo = tf.tensor3d(face.image.data, [face.image.height, face.image.width, 3], 'float32');
      const [embedding] = await embedFaces(photo, [face], recognizer);
      photo.dispose();
      items.push({ label: face.identity, embedding });
    }
    recognizer.dispose();
    const summary = summariseVerification(items);
    rows.push([id, variant.label, num(summary.auc), pct(summary.tarAt1PctFar), pct(summary.rank1)]);
    process.stderr.write(`${id} ${variant.label}: AUC ${num(summary.auc)}\n`);
  }
}
console.log(`\nInput conventions on ${faces.length} faces (${photos.length} photos, up to ${args['limit-per-identity']} per identity)\n`);
console.log(formatTable(['recognizer', 'convention', 'AUC', 'TAR@1%FAR', 'rank-1'], rows));
console.log(JSON.stringify({ bench: 'zoo-conventions', rows }));
