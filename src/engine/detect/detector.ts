/**
 * Face detection and 68-point landmarks with face-api's SSD MobileNet v1 and landmark net (detection is not
 * differentiated: the attack re-uses the landmarks of the clean photo, the measuring side re-detects from scratch).
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

/** Fraction of the long side added on every side when a photo yields no face: faces that fill the frame need it. */
const retryPadding = 0.25;

export async function createFaceDetector(read: ModelFileReader): Promise<FaceDetector> {
  const ssd = new faceapi.SsdMobilenetv1();
  const landmarkNet = new faceapi.FaceLandmark68Net();
  const ssdEntry = modelEntry('faceapi-ssd');
  const landmarkEntry = modelEntry('faceapi-landmarks68');
  ssd.loadFromWeightMap(asFaceApi<FaceApiWeights>(await loadFaceApiWeights(ssdEntry, read)));
  landmarkNet.loadFromWeightMap(asFaceApi<FaceApiWeights>(await loadFaceApiWeights(landmarkEntry, read)));

  async function detectOnTensor(photo: tf.Tensor3D, options: Required<DetectOptions>, offset: number) {
    const ssdOptions = new faceapi.SsdMobilenetv1Options({ minConfidence: options.minConfidence, maxResults: options.maxFaces });
    const detections = await ssd.locateFaces(asFaceApi<FaceApiTensor>(photo), ssdOptions);
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
      try {
        let faces = await detectOnTensor(photo, settings, 0);
        if (faces.length === 0) {
          // A face that fills the frame is missed by SSD; pad with grey and look again.
          const pad = Math.round(Math.max(image.width, image.height) * retryPadding);
          const padded = tf.pad(photo, [[pad, pad], [pad, pad], [0, 0]], 128);
          try {
            faces = await detectOnTensor(padded, settings, pad);
          } finally {
            padded.dispose();
          }
        }
        return faces.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height).slice(0, settings.maxFaces);
      } finally {
        photo.dispose();
      }
    },
    dispose() {
      ssd.dispose();
      landmarkNet.dispose();
    },
  };
}
