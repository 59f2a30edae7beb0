/**
 * face-api's ResNet-34 descriptor (dlib's metric-learning model, 128-D), run with plain tfjs ops on face-api's
 * weights. face-api's own computeFaceDescriptor cannot be differentiated (it stacks non-tensors); this forward pass
 * is the same network (face-api src/faceRecognitionNet) and gives identical output, checked in
 * test/unit/recognizers/recognizers.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { loadFaceApiWeights } from '../models/load.ts';
import { type ModelEntry, type ModelFileReader, recognizerEntry } from '../models/manifest.ts';
import type { Recognizer } from './recognizer.ts';

const meanRgb = [122.782, 117.001, 104.298];

type Weights = tf.NamedTensorMap;

function convLayer(
  x: tf.Tensor4D,
  w: Weights,
  prefix: string,
  stride: 1 | 2,
  relu: boolean,
  padding: 'same' | 'valid',
): tf.Tensor4D {
  let out = tf.conv2d(x, w[`${prefix}/conv/filters`] as tf.Tensor4D, stride, padding);
  out = tf.add(out, w[`${prefix}/conv/bias`]);
  out = tf.add(tf.mul(out, w[`${prefix}/scale/weights`]), w[`${prefix}/scale/biases`]);
  return (relu ? tf.relu(out) : out) as tf.Tensor4D;
}

function residual(x: tf.Tensor4D, w: Weights, prefix: string): tf.Tensor4D {
  let out = convLayer(x, w, `${prefix}/conv1`, 1, true, 'same');
  out = convLayer(out, w, `${prefix}/conv2`, 1, false, 'same');
  return tf.relu(tf.add(out, x)) as tf.Tensor4D;
}

function residualDown(x: tf.Tensor4D, w: Weights, prefix: string): tf.Tensor4D {
  let out = convLayer(x, w, `${prefix}/conv1`, 2, true, 'valid');
  out = convLayer(out, w, `${prefix}/conv2`, 1, false, 'same');
  let pooled = tf.avgPool(x, 2, 2, 'valid') as tf.Tensor4D;
  // As face-api: pad the strided branch by one row/column when the shapes disagree, zero-pad the pooled channels.
  if (pooled.shape[1] !== out.shape[1] || pooled.shape[2] !== out.shape[2]) {
    out = tf.pad(out, [[0, 0], [0, 1], [0, 1], [0, 0]]);
  }
  if (pooled.shape[3] !== out.shape[3]) {
    pooled = tf.pad(pooled, [[0, 0], [0, 0], [0, 0], [0, out.shape[3] - pooled.shape[3]]]);
  }
  return tf.relu(tf.add(pooled, out)) as tf.Tensor4D;
}

export function faceApiResnetForward(faces: tf.Tensor4D, w: Weights): tf.Tensor2D {
  return faceApiResnetLayers(faces, w).embedding;
}

/** The forward pass, also handing out the output of the block named `tap` (flattened to [N, values]) when given. */
function faceApiResnetLayers(faces: tf.Tensor4D, w: Weights, tap?: string): { embedding: tf.Tensor2D; tapped?: tf.Tensor2D } {
  // [N, 150, 150, 3] RGB 0..255
  let tapped: tf.Tensor2D | undefined;
  const keep = (name: string, x: tf.Tensor4D) => {
    if (name === tap) tapped = tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;
    return x;
  };
  const normalized = tf.div(tf.sub(faces, tf.tensor1d(meanRgb)), 255) as tf.Tensor4D;
  let out = convLayer(normalized, w, 'conv32_down', 2, true, 'valid');
  out = tf.maxPool(out, 3, 2, 'valid');
  for (const block of ['conv32_1', 'conv32_2', 'conv32_3']) out = keep(block, residual(out, w, block));
  out = keep('conv64_down', residualDown(out, w, 'conv64_down'));
  for (const block of ['conv64_1', 'conv64_2', 'conv64_3']) out = keep(block, residual(out, w, block));
  out = keep('conv128_down', residualDown(out, w, 'conv128_down'));
  for (const block of ['conv128_1', 'conv128_2']) out = keep(block, residual(out, w, block));
  out = keep('conv256_down', residualDown(out, w, 'conv256_down'));
  for (const block of ['conv256_1', 'conv256_2']) out = keep(block, residual(out, w, block));
  out = residualDown(out, w, 'conv256_down_out');
  const pooled = tf.mean(out, [1, 2]) as tf.Tensor2D; // [N, 256]
  if (tap !== undefined && tapped === undefined) throw new Error(`faceapi-resnet has no block "${tap}"`);
  return { embedding: tf.matMul(pooled, w.fc as tf.Tensor2D), tapped }; // [N, 128]
}

/** `entry` overrides the manifest's description (bench/zoo/conventions.ts tries other crops and channel orders). */
export async function loadFaceApiResnet(read: ModelFileReader, entry: ModelEntry = recognizerEntry('faceapi-resnet')): Promise<Recognizer> {
  const weights = await loadFaceApiWeights(entry, read);
  const bgr = entry.input.channels === 'BGR';
  return {
    id: 'faceapi-resnet',
    entry,
    inputSize: entry.input.size,
    cropScale: entry.alignment?.cropScale ?? 1,
    embed: (faces) => tf.tidy(() => l2Normalize(faceApiResnetForward(bgr ? (tf.reverse(faces, -1) as tf.Tensor4D) : faces, weights))),
    embedWithFeatures: entry.transferLayer
      ? (faces) =>
          tf.tidy(() => {
            const { embedding, tapped } = faceApiResnetLayers(bgr ? (tf.reverse(faces, -1) as tf.Tensor4D) : faces, weights, entry.transferLayer);
            return [l2Normalize(embedding), tapped!] as [tf.Tensor2D, tf.Tensor2D];
          })
      : undefined,
    dispose: () => tf.dispose(Object.values(weights)),
  };
}

export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.add(tf.norm(x, 'euclidean', 1, true), 1e-10)) as tf.Tensor2D;
}
