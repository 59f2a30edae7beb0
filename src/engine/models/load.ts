/** Loading model weights from the manifest, the same way in Node and in the extension. */
import * as tf from '@tensorflow/tfjs';
import { type GraphNode, unfuseGraph } from './graph-unfuse.ts';
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

/** A converted TF graph with its fused ops split (see graph-unfuse.ts), ready for input gradients. */
export async function loadUnfusedGraphModel(entry: ModelEntry, read: ModelFileReader): Promise<tf.GraphModel> {
  const json = JSON.parse(text.decode(await read(entry, modelFile(entry, '.json')))) as GraphModelJson;
  const shards = json.weightsManifest.flatMap((group) => group.paths);
  if (shards.length !== 1) throw new Error(`${entry.id}: expected one weights shard, found ${shards.length}`);
  const weightData = exactBuffer(await read(entry, modelFile(entry, shards[0])));
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: { ...json.modelTopology, node: unfuseGraph(json.modelTopology.node) },
    weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
    weightData,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    userDefinedMetadata: json.userDefinedMetadata,
    signature: json.signature as object | undefined,
  };
  return tf.loadGraphModel(tf.io.fromMemory(artifacts));
}
