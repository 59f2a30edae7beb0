import * as tf from '@tensorflow/tfjs';
import type { RecognizerId } from '../faces/types.ts';
import type { ModelEntry } from '../models/manifest.ts';
import { l2Normalize } from './faceapi-resnet.ts';

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

/**
 * A recognizer over a model that computes named tensors from the face crops (a TF graph, a TFLite file):
 * `run(faces, names)` returns those tensors in order, with the model's own preprocessing applied. The embedding is
 * the manifest's `embedding.output` flattened and L2-normalised; the transfer layer, when the manifest names one,
 * comes from the same execution. Takes ownership of the model: `dispose` frees it, also when this throws.
 */
export function recognizerFromOutputs(
  id: RecognizerId,
  entry: ModelEntry,
  run: (faces: tf.Tensor4D, outputs: string[]) => tf.Tensor[],
  dispose: () => void,
): Recognizer {
  if (!entry.embedding) {
    dispose();
    throw new Error(`${id}: manifest has no embedding output`);
  }
  const outputName = entry.embedding.output;
  const transferLayer = entry.transferLayer;
  const flat = (t: tf.Tensor, n: number) => tf.reshape(t, [n, -1]) as tf.Tensor2D;
  return {
    id,
    entry,
    inputSize: entry.input.size,
    cropScale: entry.alignment?.cropScale ?? 1,
    embed: (faces) => tf.tidy(() => l2Normalize(flat(run(faces, [outputName])[0], faces.shape[0]))),
    embedWithFeatures: transferLayer
      ? (faces) =>
          tf.tidy(() => {
            const [features, middle] = run(faces, [outputName, transferLayer]);
            return [l2Normalize(flat(features, faces.shape[0])), flat(middle, faces.shape[0])] as [tf.Tensor2D, tf.Tensor2D];
          })
      : undefined,
    dispose,
  };
}
