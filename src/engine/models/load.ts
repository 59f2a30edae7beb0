/** Loading model weights from the manifest, the same way in Node and in the extension. */
import * as tf from '@tensorflow/tfjs';
import { type GraphConstant, type GraphNode, fuseActivations, unfuseGraph } from './graph-unfuse.ts';
import { type ModelEntry, type ModelFileReader, modelFile } from './manifest.ts';

const text = new TextDecoder();

function exactBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? (bytes.buffer as ArrayBuffer)
    : (bytes.slice().buffer as ArrayBuffer);
}

/** face-api stores a weights manifest plus one shard; returns the named tensors (caller owns them). */
export async function loadFaceApiWeights(entry: ModelEntry, read: ModelFileReader): Promise<tf.NamedTensorMap> {
  const manifestFile = modelFile(entry, '-weights_manifest.json');
  const groups = JSON.parse(text.decode(await read(entry, manifestFile))) as tf.io.WeightsManifestConfig;
  const specs = groups.flatMap((group) => group.weights);
  const shards = groups.flatMap((group) => group.paths);
  if (shards.length !== 1) throw new Error(`${entry.id}: expected one weights shard, found ${shards.length}`);
  const data = await read(entry, modelFile(entry, shards[0]));
  return tf.io.decodeWeights(exactBuffer(data), specs);
}

interface GraphModelJson {
  modelTopology: { node: GraphNode[]; [key: string]: unknown };
  weightsManifest: tf.io.WeightsManifestConfig;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  signature?: unknown;
  userDefinedMetadata?: { [key: string]: object };
}

/** Bytes per stored element, by quantized dtype or else by dtype (tfjs-core io/types DTYPE_VALUE_SIZE_MAP). */
const storedBytes: Record<string, number> = {
  uint8: 1,
  uint16: 2,
  float16: 2,
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
};

/**
 * The shape of every weight, and the value of every scalar one (decoded with tfjs's own dequantisation, so a float16
 * 6 reads as tfjs will compute with it). Only scalars are decoded; the graph rewrite needs nothing else.
 */
export function graphConstants(
  specs: readonly tf.io.WeightsManifestEntry[],
  data: ArrayBuffer,
): Map<string, GraphConstant> {
  const constants = new Map<string, GraphConstant>();
  let offset = 0;
  for (const spec of specs) {
    const bytes = storedBytes[spec.quantization?.dtype ?? spec.dtype];
    // A string weight's length is stored inline; nothing after it can be located without decoding it. None of our
    // graphs has one, and an unknown constant only means that a pattern is not rewritten.
    if (bytes === undefined) break;
    const size = spec.shape.reduce((a, b) => a * b, 1) * bytes;
    const constant: GraphConstant = { shape: spec.shape };
    if (spec.shape.length === 0 && spec.dtype !== 'complex64') {
      const tensor = tf.io.decodeWeights(data.slice(offset, offset + size), [spec])[spec.name];
      constant.value = tensor.dataSync()[0];
      tensor.dispose();
    }
    constants.set(spec.name, constant);
    offset += size;
  }
  return constants;
}

export interface GraphLoadOptions {
  /** Replace piecewise Relu6 and PReLU by single ops (graph-unfuse.ts `fuseActivations`); default true. */
  fuseActivations?: boolean;
}

/**
 * A converted TF graph with its fused ops split and its piecewise activations joined (see graph-unfuse.ts), ready
 * for input gradients.
 */
export async function loadUnfusedGraphModel(
  entry: ModelEntry,
  read: ModelFileReader,
  options: GraphLoadOptions = {},
): Promise<tf.GraphModel> {
  const json = JSON.parse(text.decode(await read(entry, modelFile(entry, '.json')))) as GraphModelJson;
  const shards = json.weightsManifest.flatMap((group) => group.paths);
  if (shards.length !== 1) throw new Error(`${entry.id}: expected one weights shard, found ${shards.length}`);
  const weightData = exactBuffer(await read(entry, modelFile(entry, shards[0])));
  const weightSpecs = json.weightsManifest.flatMap((group) => group.weights);
  const unfused = unfuseGraph(json.modelTopology.node);
  const node =
    options.fuseActivations === false ? unfused : fuseActivations(unfused, graphConstants(weightSpecs, weightData));
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: { ...json.modelTopology, node },
    weightSpecs,
    weightData,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    userDefinedMetadata: json.userDefinedMetadata,
    signature: json.signature as object | undefined,
  };
  return tf.loadGraphModel(tf.io.fromMemory(artifacts));
}
