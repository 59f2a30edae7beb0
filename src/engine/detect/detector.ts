/**
 * Face detection and 68-point landmarks with face-api's SSD MobileNet v1 and landmark net (detection is not
 * differentiated: the attack re-uses the landmarks of the clean photo, the measuring side re-detects from scratch).
 * When SSD finds nothing, face-api's Tiny Face Detector looks again (`retries`): a missed face is a face uploaded
 * uncloaked, and Tiny finds faces SSD misses, at a quarter of its time. With `quickNoFace` a quick check goes first
 * (`faceLikely`: BlazeFace, then one Tiny pass when BlazeFace is unsure), so a photo without a face costs ~150-250 ms
 * instead of ~700-1000 ms.
 *
 * The engine imports face-api's node-wasm build, which shares `@tensorflow/tfjs` with us in Node; build.mjs aliases
 * the same path to face-api's esm-nobundle build in the browser, so there is one tfjs instance everywhere.
 */
import * as tf from '@tensorflow/tfjs';
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import type { DetectedFace } from '../faces/types.ts';
import { cropRgb, shrinkRgb } from '../image/pixels.ts';
import type { RgbImage } from '../image/types.ts';
import { loadFaceApiWeights } from '../models/load.ts';
import { createFacePresence } from './face-presence.ts';
import { type ModelFileReader, modelEntry } from '../models/manifest.ts';

export interface DetectOptions {
  /** Smallest detector confidence kept. */
  minConfidence?: number;
  /** Most faces returned, largest first. */
  maxFaces?: number;
  /**
   * Run the quick check (`faceLikely`) first and return no face, without SSD and the Tiny retries, when it sees
   * none. For the cloak, where a face-free photo should pass at once. Off by default: the measuring side (benchmark, popup estimate) re-detects with the full cascade, since a
   * cloaked face the check missed would count there as protected.
   */
  quickNoFace?: boolean;
}

/** Ids (models/manifest.json) of the models a detector loads. */
export const detectorModels = ['human-blazeface-front', 'human-blazeface-back', 'faceapi-ssd', 'faceapi-tiny-detector', 'faceapi-landmarks68'];

export interface FacePresenceCheck {
  /** False: the photo is taken as face-free (what `quickNoFace` then returns without the full cascade). */
  likely: boolean;
  /** The BlazeFace score (face-presence.ts). */
  presenceScore: number;
}

export interface FaceDetector {
  /** Every face in the photo, largest first; an empty array when there is none. */
  detect(image: RgbImage, options?: DetectOptions): Promise<DetectedFace[]>;
  /** The quick check `quickNoFace` runs first (~150 ms on a face-free photo, 2 cores, wasm). */
  faceLikely(image: RgbImage): Promise<FacePresenceCheck>;
  dispose(): void;
}

// face-api's .d.ts bundles its own copy of tfjs's type declarations, so its Tensor types are nominally different
// from ours although, at run time, it is the same tfjs instance. These casts are that boundary and nothing else.
type FaceApiWeights = Parameters<faceapi.SsdMobilenetv1['loadFromWeightMap']>[0];
type FaceApiTensor = Parameters<typeof faceapi.extractFaceTensors>[0];
const asFaceApi = <T>(value: unknown) => value as T;

const defaults: Required<DetectOptions> = { minConfidence: 0.5, maxFaces: 50, quickNoFace: false };

/**
 * The quick check behind `quickNoFace`: a photo counts as face-free when BlazeFace (face-presence.ts, ~45 ms) scores
 * it below `presenceThreshold` and one Tiny pass (416 px, ~110 ms) finds nothing at `quickTinyThreshold`. Chosen with
 * bench/detection (2026-12-06; 157 fixture photos, a tight crop of each largest face, a strip beside the faces,
 * face-api's six group photos as they are and shrunk to 1/3 and 1/6 in a frame of the same size: 441 samples, 294 of
 * them with a face the full cascade finds). BlazeFace alone at 0.5 missed one face the cascade finds only in its Tiny
 * retry (a film still, BlazeFace 0.43, Tiny 0.61); with the Tiny pass at 0.3 and BlazeFace at 0.4 every one of the
 * 294 clears a threshold by 0.15 or more, and a third of the face-free strips beside faces (hands, hair, clothes:
 * hard cases) still go on to the full cascade, which costs time, never a face.
 */
export const presenceThreshold = 0.4;
export const quickTinyThreshold = 0.3;

/**
 * Longest side the detectors look at. SSD sees 512 px and Tiny at most 416 whatever it is given, so a larger photo is
 * first shrunk (by block averaging) to at most this: the detectors find the same faces, and a 12 MP photo is not
 * padded, copied and resized at full size for every pass. Landmarks are still found on full-resolution crops.
 */
const maxDetectionSide = 1024;

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
  const presence = await createFacePresence(read).catch((error: unknown) => {
    ssd.dispose();
    tiny.dispose();
    landmarkNet.dispose();
    throw error;
  });

  /**
   * Faces `locate` finds on `view` (the photo shrunk by `factor`, maybe padded by `pad` view pixels), each with
   * landmarks found on a crop of the full-resolution `image`, in `image` coordinates.
   */
  async function detectOn(
    image: RgbImage,
    view: tf.Tensor3D,
    factor: number,
    pad: number,
    locate: (input: FaceApiTensor) => Promise<faceapi.FaceDetection[]>,
  ): Promise<DetectedFace[]> {
    const detections = await locate(asFaceApi<FaceApiTensor>(view));
    const found: DetectedFace[] = [];
    for (const detection of detections) {
      const { x, y, width, height } = detection.box;
      const box = { x: (x - pad) * factor, y: (y - pad) * factor, width: width * factor, height: height * factor };
      // The crop is whole pixels (cropRgb floors x and y), and may reach past the photo's edge (filled black).
      const origin = { x: Math.floor(box.x), y: Math.floor(box.y) };
      const crop = cropRgb(image, { ...origin, width: Math.max(1, box.width), height: Math.max(1, box.height) });
      const cropTensor = tf.tensor3d(crop.data, [crop.height, crop.width, 3], 'int32');
      try {
        const landmarks = (await landmarkNet.detectLandmarks(asFaceApi<FaceApiTensor>(cropTensor))) as faceapi.FaceLandmarks68;
        // Landmarks come relative to the crop, in crop pixels.
        found.push({ box, score: detection.score, landmarks: landmarks.positions.map((p) => ({ x: p.x + origin.x, y: p.y + origin.y })) });
      } finally {
        cropTensor.dispose();
      }
    }
    return found;
  }

  /** The detectors' view of `image`: shrunk to at most `maxDetectionSide` by `factor`. */
  function viewOf(image: RgbImage): { view: tf.Tensor3D; factor: number } {
    const factor = Math.max(1, Math.ceil(Math.max(image.width, image.height) / maxDetectionSide));
    const shrunk = shrinkRgb(image, factor);
    return { view: tf.tensor3d(shrunk.data, [shrunk.height, shrunk.width, 3], 'int32'), factor };
  }

  /** The quick check on the detectors' view: BlazeFace's score, then (below its threshold) one low-threshold Tiny pass. */
  async function checkPresence(view: tf.Tensor3D): Promise<FacePresenceCheck> {
    const presenceScore = await presence.score(view);
    if (presenceScore >= presenceThreshold) return { likely: true, presenceScore };
    const tinyOptions = new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: quickTinyThreshold });
    const found = await tiny.locateFaces(asFaceApi<FaceApiTensor>(view), tinyOptions);
    return { likely: found.length > 0, presenceScore };
  }

  return {
    async faceLikely(image) {
      const { view } = viewOf(image);
      try {
        return await checkPresence(view);
      } finally {
        view.dispose();
      }
    },
    async detect(image, options = {}) {
      const settings = { ...defaults, ...options };
      const { view, factor } = viewOf(image);
      const [height, width] = view.shape;
      let padded: tf.Tensor3D | null = null;
      const pad = Math.round(Math.max(width, height) * retryPadding);
      try {
        if (settings.quickNoFace && !(await checkPresence(view)).likely) return [];
        const ssdOptions = new faceapi.SsdMobilenetv1Options({ minConfidence: settings.minConfidence, maxResults: settings.maxFaces });
        let faces = await detectOn(image, view, factor, 0, (input) => ssd.locateFaces(input, ssdOptions));
        for (const retry of retries) {
          if (faces.length > 0) break;
          // A face that fills the frame is missed on the photo as is; padding with grey lets it be seen whole.
          const [input, offset]: [tf.Tensor3D, number] = retry.padded
            ? [(padded ??= tf.pad(view, [[pad, pad], [pad, pad], [0, 0]], 128)), pad]
            : [view, 0];
          const tinyOptions = new faceapi.TinyFaceDetectorOptions({ inputSize: retry.inputSize, scoreThreshold: settings.minConfidence });
          faces = await detectOn(image, input, factor, offset, (tensor) => tiny.locateFaces(tensor, tinyOptions));
        }
        return faces.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height).slice(0, settings.maxFaces);
      } finally {
        view.dispose();
        padded?.dispose();
      }
    },
    dispose() {
      ssd.dispose();
      tiny.dispose();
      landmarkNet.dispose();
      presence.dispose();
    },
  };
}
