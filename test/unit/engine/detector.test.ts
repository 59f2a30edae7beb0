// Detection on real photos, on photos with no face, on faces only the retries find, and on a photo with 20 faces;
// tensor counts stay flat.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import sharp from 'sharp';
import { useBackend } from '../../../src/engine/backends/backends.ts';
import { type FaceDetector, createFaceDetector, presenceThreshold } from '../../../src/engine/detect/detector.ts';
import { decodeImageNode } from '../../../src/engine/image/decode-node.ts';
import { cropRgb } from '../../../src/engine/image/pixels.ts';
import type { RgbImage } from '../../../src/engine/image/types.ts';
import { readModelFileNode } from '../../../src/engine/models/read-node.ts';
import { demoPhoto, sharedFacesDir, tightCrop } from '../../support/photos.ts';

let detector: FaceDetector;

before(async () => {
  await useBackend(['wasm']);
  detector = await createFaceDetector(readModelFileNode);
});
after(() => detector.dispose());

const inside = (image: RgbImage, p: { x: number; y: number }) => p.x >= 0 && p.y >= 0 && p.x < image.width && p.y < image.height;

test('finds every face of a group photo, with 68 landmarks inside each box', async () => {
  const { image } = await demoPhoto('sample1.jpg');
  const faces = await detector.detect(image);
  assert.ok(faces.length >= 3, `found ${faces.length}`);
  for (const face of faces) {
    assert.equal(face.landmarks.length, 68);
    assert.ok(face.score >= 0.5);
    assert.ok(face.landmarks.every((p) => inside(image, p)));
    const [leftEye, rightEye] = [face.landmarks[36], face.landmarks[45]];
    assert.ok(leftEye.x < rightEye.x, 'eyes in image order');
    const nose = face.landmarks[30];
    const slack = face.box.width * 0.25;
    assert.ok(nose.x > face.box.x - slack && nose.x < face.box.x + face.box.width + slack);
  }
  // Largest first.
  for (let i = 1; i < faces.length; i++) {
    assert.ok(faces[i - 1].box.width * faces[i - 1].box.height >= faces[i].box.width * faces[i].box.height);
  }
});

test('a photo without a face gives an empty list, not an error', async () => {
  const width = 640;
  const height = 480;
  const bytes = await sharp({ create: { width, height, channels: 3, background: { r: 40, g: 120, b: 200 } } })
    .composite([{ input: Buffer.from(`<svg width="${width}" height="${height}"><rect x="100" y="80" width="300" height="200" fill="orange"/></svg>`) }])
    .jpeg()
    .toBuffer();
  const faces = await detector.detect(await decodeImageNode(new Uint8Array(bytes)));
  assert.deepEqual(faces, []);
});

test('a face that fills the whole frame is still found (the retries)', async () => {
  const { image } = await demoPhoto('sample1.jpg');
  const [face] = await detector.detect(image);
  const tight = tightCrop(image, face.box);
  const found = await detector.detect(tight);
  assert.equal(found.length, 1);
});

test('a face SSD misses is found by the Tiny retry, with landmarks on it', async () => {
  // Sunglasses and a microphone over the mouth, 220 x 165: SSD finds nothing as is and padded (scratch study).
  const image = await decodeImageNode(new Uint8Array(await readFile(join(sharedFacesDir, 'celeb5/elton_john/11.jpg'))));
  const faces = await detector.detect(image);
  assert.equal(faces.length, 1);
  const [face] = faces;
  assert.equal(face.landmarks.length, 68);
  const [leftEye, rightEye] = [face.landmarks[36], face.landmarks[45]];
  assert.ok(leftEye.x < rightEye.x, 'eyes in image order');
  // The eyes lie within the box, in its upper part.
  for (const eye of [leftEye, rightEye]) {
    assert.ok(eye.x > face.box.x && eye.x < face.box.x + face.box.width, `eye x ${eye.x} outside the box`);
    assert.ok(eye.y > face.box.y && eye.y < face.box.y + face.box.height * 0.7, `eye y ${eye.y} not in the box's upper part`);
  }
  // Every retry pass ran (and was disposed of) on the way here.
  const tensors = tf.memory().numTensors;
  await detector.detect(image);
  assert.equal(tf.memory().numTensors, tensors);
});

test('a large photo is shrunk for the detectors: the same faces, landmarks from full resolution', async () => {
  const { image } = await demoPhoto('sample1.jpg');
  const atOriginal = await detector.detect(image);
  // The same photo at 4x the size (about 10 MP): detected on a copy shrunk by 4 (block averages), so the boxes must
  // come back scaled, and the landmarks, found on full-resolution crops, must land on the same points.
  const factor = 4;
  const big = await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(image.width * factor, image.height * factor, { kernel: 'cubic' })
    .raw()
    .toBuffer();
  const large = await detector.detect({ width: image.width * factor, height: image.height * factor, data: new Uint8Array(big) });
  assert.equal(large.length, atOriginal.length);
  for (const face of atOriginal) {
    const match = large.find((f) => Math.abs(f.box.x / factor - face.box.x) < face.box.width * 0.1);
    assert.ok(match, `no face near x=${face.box.x.toFixed(0)} in the large photo`);
    assert.ok(Math.abs(match.box.width / factor - face.box.width) < face.box.width * 0.1, 'box scaled back');
    const eyeError = Math.hypot(match.landmarks[36].x / factor - face.landmarks[36].x, match.landmarks[36].y / factor - face.landmarks[36].y);
    assert.ok(eyeError < face.box.width * 0.05, `left eye off by ${eyeError.toFixed(1)} px`);
  }
});

test('a photo with 20 faces returns all 20 (or the maxFaces cap), and tensors stay flat', async () => {
  const { image } = await demoPhoto('sample1.jpg');
  const faces = await detector.detect(image);
  // A 5 x 4 mosaic of the photo's faces with margins, each tile 200 px.
  const tile = 200;
  const tiles = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const face = faces[i % faces.length];
      const margin = face.box.width * 0.6;
      const crop = cropRgb(image, {
        x: Math.round(face.box.x - margin),
        y: Math.round(face.box.y - margin),
        width: Math.round(face.box.width + 2 * margin),
        height: Math.round(face.box.height + 2 * margin),
      }, 128);
      const png = await sharp(Buffer.from(crop.data), { raw: { width: crop.width, height: crop.height, channels: 3 } })
        .resize(tile, tile, { fit: 'fill' })
        .png()
        .toBuffer();
      return { input: png, left: (i % 5) * tile, top: Math.floor(i / 5) * tile };
    }),
  );
  const mosaic = await sharp({ create: { width: 5 * tile, height: 4 * tile, channels: 3, background: '#808080' } })
    .composite(tiles)
    .jpeg({ quality: 95 })
    .toBuffer();
  const photo = await decodeImageNode(new Uint8Array(mosaic));
  const tensorsBefore = tf.memory().numTensors;
  const all = await detector.detect(photo);
  assert.equal(all.length, 20);
  const capped = await detector.detect(photo, { maxFaces: 5 });
  assert.equal(capped.length, 5);
  assert.equal(tf.memory().numTensors, tensorsBefore);
});

test('quickNoFace: the presence check alone answers a face-free photo; photos with faces get the full cascade', async () => {
  const width = 800;
  const height = 600;
  const scene = await sharp({ create: { width, height, channels: 3, background: { r: 90, g: 140, b: 60 } } })
    .composite([{ input: Buffer.from(`<svg width="${width}" height="${height}"><circle cx="620" cy="120" r="60" fill="#fff4c2"/><rect x="100" y="420" width="600" height="120" fill="#804020"/></svg>`) }])
    .jpeg()
    .toBuffer();
  const faceFree = await decodeImageNode(new Uint8Array(scene));
  // Count the passes of face-api's detectors (the same module instance the detector uses).
  const passes = { ssd: 0, tiny: 0 };
  const ssdLocate = faceapi.SsdMobilenetv1.prototype.locateFaces;
  const tinyLocate = faceapi.TinyFaceDetector.prototype.locateFaces;
  faceapi.SsdMobilenetv1.prototype.locateFaces = function (...args) {
    passes.ssd++;
    return ssdLocate.apply(this, args);
  };
  faceapi.TinyFaceDetector.prototype.locateFaces = function (...args) {
    passes.tiny++;
    return tinyLocate.apply(this, args);
  };
  try {
    assert.deepEqual(await detector.detect(faceFree), []);
    assert.deepEqual(passes, { ssd: 1, tiny: 3 });
    assert.deepEqual(await detector.detect(faceFree, { quickNoFace: true }), []);
    // No SSD pass and no retries: at most the quick check's one Tiny pass.
    assert.equal(passes.ssd, 1, 'the quick path ran SSD');
    assert.ok(passes.tiny <= 4, `the quick path ran ${passes.tiny - 3} Tiny passes`);
  } finally {
    faceapi.SsdMobilenetv1.prototype.locateFaces = ssdLocate;
    faceapi.TinyFaceDetector.prototype.locateFaces = tinyLocate;
  }

  // With faces, the quick path returns what the cascade returns: a group photo, and a face that fills the frame
  // (found by the retries).
  const { image } = await demoPhoto('sample1.jpg');
  const faces = await detector.detect(image);
  assert.deepEqual((await detector.detect(image, { quickNoFace: true })).map((f) => f.box), faces.map((f) => f.box));
  const [face] = faces;
  const tight = tightCrop(image, face.box);
  assert.equal((await detector.detect(tight, { quickNoFace: true })).length, 1);
  const checks = { faceFree: await detector.faceLikely(faceFree), group: await detector.faceLikely(image), tight: await detector.faceLikely(tight) };
  assert.equal(checks.faceFree.likely, false);
  assert.ok(checks.faceFree.presenceScore < presenceThreshold, `face-free scene scores ${checks.faceFree.presenceScore}`);
  for (const check of [checks.group, checks.tight]) {
    assert.equal(check.likely, true);
    assert.ok(check.presenceScore >= presenceThreshold, `a face scores ${check.presenceScore}`);
  }
  const tensors = tf.memory().numTensors;
  await detector.detect(faceFree, { quickNoFace: true });
  await detector.detect(image, { quickNoFace: true });
  assert.equal(tf.memory().numTensors, tensors);
});
