/** Extension pages: model files packaged with the extension, fetched by root-relative path (never remote). */
import type { ModelFileReader } from './manifest.ts';

export const readModelFileBrowser: ModelFileReader = async (entry, file) => {
  // Root-relative: face-api-style loadFromUri('chrome-extension://...') fails, '/models/...' works (BROWSER-FACTS.md).
  const response = await fetch(`/${file.extensionPath}`);
  if (!response.ok) throw new Error(`${entry.id}: /${file.extensionPath} answered ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length !== file.bytes) {
    throw new Error(`${entry.id}: /${file.extensionPath} has ${bytes.length} bytes, the manifest expects ${file.bytes}`);
  }
  return bytes;
};
