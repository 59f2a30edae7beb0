/**
 * The face pipeline: detect every face, align it for each recognizer, embed. The benchmark's measuring side and the
 * popup's protection estimate use it; the cloak engine uses its parts.
 */
import * as tf from '@tensorflow/tfjs';
import { alignmentFor, warpFaces } from './align/align.ts';
import { type DetectOptions, type FaceDetector, createFaceDetector } from './detect/detector.ts';
import type { AnalyzedFace, FaceAnalyzer, RecognizerId } from './faces/types.ts';
import type { RgbImage } from './image/types.ts';
import type { ModelFileReader } from './models/manifest.ts';
import type { Recognizer } from './recognizers/recognizer.ts';
import { loadRecognizers, recognizerIds } from './recognizers/zoo.ts';

export interface FaceAnalyzerOptions {
  recognizers?: readonly RecognizerId[];
  detect?: DetectOptions;
}

/** Embeds already-detected faces of a photo with one recognizer: [faces, dim] as plain arrays. */
export async function embedFaces(
  photo: tf.Tensor3D,
  faces: readonly { landmarks: AnalyzedFace['landmarks'] }[],
  recognizer: Recognizer,
): Promise<Float32Array[]> {
  if (faces.length === 0) return [];
  const embeddings = tf.tidy(() => {
    const alignments = faces.map((face) => alignmentFor(face.landmarks, recognizer.inputSize, recognizer.cropScale));
    return recognizer.embed(warpFaces(photo, alignments));
  });
  try {
    const flat = await embeddings.data();
    const dim = embeddings.shape[1];
    return faces.map((_, i) => Float32Array.from(flat.subarray(i * dim, (i + 1) * dim)));
  } finally {
    embeddings.dispose();
  }
}

/** The detector and the recognizers `ids`; nothing stays loaded when any of them fails to load. */
export async function loadFaceModels(
  read: ModelFileReader,
  ids: readonly RecognizerId[],
): Promise<{ detector: FaceDetector; recognizers: Recognizer[] }> {
  const detector = await createFaceDetector(read);
  try {
    return { detector, recognizers: await loadRecognizers(ids, read) };
  } catch (error) {
    detector.dispose();
    throw error;
  }
}

export async function createFaceAnalyzer(read: ModelFileReader, options: FaceAnalyzerOptions = {}): Promise<FaceAnalyzer> {
  const ids = options.recognizers ?? recognizerIds;
  const { detector, recognizers } = await loadFaceModels(read, ids);
  return {
    recognizers: ids,
    async analyze(image: RgbImage): Promise<AnalyzedFace[]> {
      const faces = await detector.detect(image, options.detect);
      if (faces.length === 0) return [];
      const photo = tf.tensor3d(image.data, [image.height, image.width, 3], 'float32');
      try {
        const analyzed: AnalyzedFace[] = faces.map((face) => ({ ...face, embeddings: {} }));
        for (const recognizer of recognizers) {
          const embeddings = await embedFaces(photo, faces, recognizer);
          embeddings.forEach((embedding, i) => (analyzed[i].embeddings[recognizer.id] = embedding));
        }
        return analyzed;
      } finally {
        photo.dispose();
      }
    },
    dispose() {
      detector.dispose();
      for (const recognizer of recognizers) recognizer.dispose();
    },
  };
}
