import type * as tf from '@tensorflow/tfjs';
import type { RecognizerId } from '../faces/types.ts';
import type { ModelEntry } from '../models/manifest.ts';

/**
 * One face recognizer behind the interface every part of the engine uses. Preprocessing (channel order, range,
 * mean) is this model's business and happens inside `embed`; callers always pass aligned RGB crops in 0..255.
 */
export interface Recognizer {
  readonly id: RecognizerId;
  readonly entry: ModelEntry;
  /** Side of the square aligned crop `embed` expects. */
  readonly inputSize: number;
  /** Crop zoom on top of the ArcFace template (models/manifest.json `alignment.cropScale`). */
  readonly cropScale: number;
  /**
   * faces [N, inputSize, inputSize, 3] RGB 0..255 -> [N, dim] L2-normalised embeddings. Synchronous and
   * differentiable with respect to `faces`; call inside tf.tidy or tf.grad.
   */
  embed(faces: tf.Tensor4D): tf.Tensor2D;
  /**
   * Like `embed`, plus the activations of the manifest's `transferLayer` flattened to [N, features] (not
   * normalised); only on models that name one.
   */
  embedWithFeatures?(faces: tf.Tensor4D): [tf.Tensor2D, tf.Tensor2D];
  dispose(): void;
}
