/** Node-only: model files straight from the npm packages in node_modules, or from models/ for those the project makes. */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelEntry, ModelFileReader } from './manifest.ts';

const require = createRequire(import.meta.url);
const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The folder a manifest entry's file paths start from. */
function modelSourceDir(entry: ModelEntry): string {
  return 'package' in entry.source ? dirname(require.resolve(`${entry.source.package}/package.json`)) : repositoryRoot;
}

export const readModelFileNode: ModelFileReader = async (entry, file) => {
  const bytes = await readFile(join(modelSourceDir(entry), file.path));
  if (bytes.length !== file.bytes) {
    throw new Error(`${entry.id}: ${file.path} has ${bytes.length} bytes, the manifest expects ${file.bytes}`);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
};
