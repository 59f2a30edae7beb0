/**
 * Detector choice, measured: face-api's SSD MobileNet v1 (the engine's first pass) against its Tiny Face Detector (its
 * retries when SSD finds nothing), on the same photos, one pass each without retries, so the numbers compare the
 * detectors alone.
 */
import * as tf from '@tensorflow/tfjs';
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import type { RgbImage } from '../../src/engine/image/types.ts';
import { loadFaceApiWeights } from '../../src/engine/models/load.ts';
import { type ModelFileReader, modelEntry } from '../../src/engine/models/manifest.ts';

export interface DetectorRun {
  found: number;
  ms: number;
}

export interface DetectorPair {
  ssd(image: RgbImage): Promise<DetectorRun>;
  tiny(image: RgbImage): Promise<DetectorRun>;
  dispose(): void;
}

export async function createDetectorPair(read: ModelFileReader): Promise<DetectorPair> {
  const ssd = new faceapi.SsdMobilenetv1();
  const tiny = new faceapi.TinyFaceDetector();
  // face-api's typings carry their own copy of tfjs's types; same tfjs at run time (see detector.ts).
  ssd.loadFromWeightMap((await loadFaceApiWeights(modelEntry('faceapi-ssd'), read)) as never);
  tiny.loadFromWeightMap((await loadFaceApiWeights(modelEntry('faceapi-tiny-detector'), read)) as never);
  const run = async (image: RgbImage, locate: (input: never) => Promise<unknown[]>): Promise<DetectorRun> => {
    const photo = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
    try {
      const started = performance.now();
      const found = (await locate(photo as never)).length;
      return { found, ms: performance.now() - started };
    } finally {
      photo.dispose();
    }
  };
  return {
    ssd: (image) => run(image, (input) => ssd.locateFaces(input, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 }))),
    tiny: (image) => run(image, (input) => tiny.locateFaces(input, new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 }))),
    dispose() {
      ssd.dispose();
      tiny.dispose();
    },
  };
}
