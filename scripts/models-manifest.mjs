// Fills (--write) or checks (default) bytes and sha256 of every file in models/manifest.json against node_modules
// (and models/ for the files the project makes).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const manifestPath = new URL('../models/manifest.json', import.meta.url);
const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
const write = process.argv.includes('--write');
let problems = 0;
for (const model of manifest.models) {
  // An npm package's files, or (`madeBy`) one the project makes, from the repository root.
  const sourceDir = model.source.package ? dirname(require.resolve(`${model.source.package}/package.json`)) : repositoryRoot;
  for (const file of model.files) {
    const bytes = readFileSync(join(sourceDir, file.path));
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (write) Object.assign(file, { bytes: bytes.length, sha256 });
    else if (file.bytes !== bytes.length || file.sha256 !== sha256) {
      problems++;
      console.error(`${model.id}: ${file.path} has ${bytes.length} bytes sha256 ${sha256}, manifest says ${file.bytes} ${file.sha256}`);
    }
  }
}
if (write) writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
else if (problems) process.exit(1);
else console.log(`models/manifest.json: ${manifest.models.length} models verified`);
