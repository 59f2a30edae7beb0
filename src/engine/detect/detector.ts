/**
 * Face detection and 68-point landmarks with face-api's SSD MobileNet v1 and landmark net (detection is not
 * differentiated: the attack re-uses the landmarks of the clean photo, the measuring side re-detects from scratch).
 * When SSD finds nothing, face-api's Tiny Face Detector looks again (`retries`): a missed face is a face uploaded
 * uncloaked, and Tiny finds faces SSD misses, at a quarter of its time.
 *
 * The engine imports face-api's node-wasm build, which shares `@tensorflow/tfjs` with us in Node; build.mjs aliases
 * the same path to face-api's esm-nobundle build in the browser, so there is one tfjs instance everywhere.
 */
import * as tf from '@tensorflow/tfjs';
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import type { DetectedFace } from '../faces/types.ts';
import type { RgbImage } from '../image/types.ts';
import { loadFaceApiWeights } from '../models/load.ts';
import { type ModelFileReader, modelEntry } from '../models/manifest.ts';

export interface DetectOptions {
  /** Smallest detector confidence kept. */
  minConfidence?: number;
  /** Most faces returned, largest first. */
  maxFaces?: number;
}

export interface FaceDetector {
  /** Every face in the photo, largest first; an empty array when there is none. */
  detect(image: RgbImage, options?: DetectOptions): Promise<DetectedFace[]>;
  dispose(): void;
}

// face-api's .d.ts bundles its own copy of tfjs's type declarations, so its Tensor types are nominally different
// from ours although, at run time, it is the same tfjs instance. These casts are that boundary and nothing else.
type FaceApiWeights = Parameters<faceapi.SsdMobilenetv1['loadFromWeightMap']>[0];
type FaceApiTensor = Parameters<typeof faceapi.extractFaceTensors>[0];
const asFaceApi = <T>(value: unknown) => value as T;

const defaults: Required<DetectOptions> = { minConfidence: 0.5, maxFaces: 50 };

/** Fraction of the long side added on every side for the padded retry: faces that fill the frame need it. */
const retryPadding = 0.25;

/**
 * Tiny Face Detector passes tried in order when SSD finds no face, stopping at the first that finds one. Measured on
 * the fixtures (scratch study, 2026-11-22; ms on 2 busy cores): SSD alone finds a face in 153 of 157 photos and in 120
 * of 153 tight crops where the face fills the frame; the earlier retry (SSD again on the padded photo, 600 ms) made
 * that 156 and 137, and fired on 1 of 128 face-free crops. These three passes (150 + 155 + 47 ms) make it 157 and 143,
 * fire on 1-2 of the 128 face-free crops (a cloak spent on a face-like patch costs time, not the upload) and never on
 * synthetic scenes, and cut the face-less path from two SSD passes to one SSD pass and three Tiny ones.
 */
const retries: { inputSize: number; padded: boolean }[] = [
  { inputSize: 416, padded: true },
  { inputSize: 416, padded: false },
  { inputSize: 224, padded: false },
];

export async function createFaceDetector(read: ModelFileReader): Promise<FaceDetector> {
  const ssd = new faceapi.SsdMobilenetv1();
  const tiny = new faceapi.TinyFaceDetector();
  const landmarkNet = new faceapi.FaceLandmark68Net();
  ssd.loadFromWeightMap(asFaceApi<FaceApiWeights>(await loadFaceApiWeights(modelEntry('faceapi-ssd'), read)));
  tiny.loadFromWeightMap(asFaceApi<FaceApiWeights>(await loadFaceApiWeights(modelEntry('faceapi-tiny-detector'), read)));
  landmarkNet.loadFromWeightMap(asFaceApi<FaceApiWeights>(await loadFaceApiWeights(modelEntry('faceapi-landmarks68'), read)));

  /** Boxes from `locate` on `photo`, each with landmarks, in the coordinates of `photo` minus `offset`. */
  async function detectOnTensor(photo: tf.Tensor3D, locate: (input: FaceApiTensor) => Promise<faceapi.FaceDetection[]>, offset: number) {
    const detections = await locate(asFaceApi<FaceApiTensor>(photo));
    if (detections.length === 0) return [];
    const crops = asFaceApi<tf.Tensor3D[]>(await faceapi.extractFaceTensors(asFaceApi<FaceApiTensor>(photo), detections));
    try {
      const found: DetectedFace[] = [];
      for (let i = 0; i < detections.length; i++) {
        const landmarks = (await landmarkNet.detectLandmarks(asFaceApi<FaceApiTensor>(crops[i]))) as faceapi.FaceLandmarks68;
        const box = detections[i].box;
        // Landmarks come relative to the crop, in crop pixels.
        const points = landmarks.positions.map((p) => ({ x: p.x + box.x - offset, y: p.y + box.y - offset }));
        found.push({
          box: { x: box.x - offset, y: box.y - offset, width: box.width, height: box.height },
          score: detections[i].score,
          landmarks: points,
        });
      }
      return found;
    } finally {
      tf.dispose(crops);
    }
  }

  return {
    async detect(image, options = {}) {
      const settings = { ...defaults, ...options };
      const photo = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
      let padded: tf.Tensor3D | null = null;
      const pad = Math.round(Math.max(image.width, image.height) * retryPadding);
      try {
        const ssdOptions = new faceapi.SsdMobilenetv1Options({ minConfidence: settings.minConfidence, maxResults: settings.maxFaces });
        let faces = await detectOnTensor(photo, (input) => ssd.locateFaces(input, ssdOptions), 0);
        for (const retry of retries) {
          if (faces.length > 0) break;
          // A face that fills the frame is missed on the photo as is; padding with grey lets it be seen whole.
          if (retry.padded) padded ??= tf.pad(photo, [[pad, pad], [pad, pad], [0, 0]], 128);
          const tinyOptions = new faceapi.TinyFaceDetectorOptions({ inputSize: retry.inputSize, scoreThreshold: settings.minConfidence });
          faces = await detectOnTensor(retry.padded ? padded! : photo, (input) => tiny.locateFaces(input, tinyOptions), retry.padded ? pad : 0);
        }
        return faces.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height).slice(0, settings.maxFaces);
      } finally {
        photo.dispose();
        padded?.dispose();
      }
    },
    dispose() {
      ssd.dispose();
      tiny.dispose();
      landmarkNet.dispose();
    },
  };
}
