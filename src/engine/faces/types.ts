import type { RgbImage } from '../image/types.ts';

export interface Point {
  x: number;
  y: number;
}

/** Axis-aligned box in image pixels. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DetectedFace {
  box: Box;
  /** Detector confidence, 0..1. */
  score: number;
  /** face-api's 68-point layout (iBUG 300-W), image pixels. */
  landmarks: Point[];
}

/** Every recognizer the zoo knows; `models/manifest.json` describes each. */
export type RecognizerId =
  | 'faceapi-resnet'
  | 'human-faceres'
  | 'human-faceres-deep'
  | 'human-mobileface'
  | 'expo-mobilefacenet'
  | 'faceplugin-mobilefacenet';

export interface AnalyzedFace extends DetectedFace {
  /** L2-normalised embedding per recognizer, so cosine similarity is a dot product. */
  embeddings: Partial<Record<RecognizerId, Float32Array>>;
}

/** Detect, align and embed every face of a photo: the measuring side of the benchmark. */
export interface FaceAnalyzer {
  readonly recognizers: readonly RecognizerId[];
  analyze(image: RgbImage): Promise<AnalyzedFace[]>;
  dispose(): void;
}
