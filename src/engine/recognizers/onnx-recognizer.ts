/**
 * Recognizers shipped as ONNX files (faceplugin's MobileFaceNet), run as tfjs ops by models/onnx.ts so their input
 * gradients work on every backend.
 */
import * as tf from '@tensorflow/tfjs';
import type { RecognizerId } from '../faces/types.ts';
import { type ModelEntry, type ModelFileReader, modelFile, recognizerEntry } from '../models/manifest.ts';
import { loadOnnxGraph } from '../models/onnx.ts';
import { type Recognizer, recognizerFromOutputs } from './recognizer.ts';

/** faceplugin's MobileFaceNet takes RGB scaled as (x - 127) / 128, NCHW, as its JS wrapper (lib/fr_feature.js) does. */
function toInput(faces: tf.Tensor4D, channels: 'RGB' | 'BGR'): tf.Tensor4D {
  const ordered = channels === 'BGR' ? tf.reverse(faces, -1) : faces;
  return tf.div(tf.sub(ordered, 127), 128) as tf.Tensor4D;
}

export async function loadOnnxRecognizer(
  id: RecognizerId,
  read: ModelFileReader,
  entry: ModelEntry = recognizerEntry(id),
): Promise<Recognizer> {
  const graph = loadOnnxGraph(await read(entry, modelFile(entry, '.onnx')));
  const run = (faces: tf.Tensor4D, outputs: string[]) => graph.execute(toInput(faces, entry.input.channels), outputs);
  return recognizerFromOutputs(id, entry, run, () => graph.dispose());
}
