/** Node-only: model files straight from the npm packages in node_modules. */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ModelFileReader } from './manifest.ts';

const require = createRequire(import.meta.url);

export const readModelFileNode: ModelFileReader = async (entry, file) => {
  const root = dirname(require.resolve(`${entry.source.package}/package.json`));
  const bytes = await readFile(join(root, file.path));
  if (bytes.length !== file.bytes) {
    throw new Error(`${entry.id}: ${file.path} has ${bytes.length} bytes, the manifest expects ${file.bytes}`);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
};
