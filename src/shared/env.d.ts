// Compile-time constants replaced by build.mjs (esbuild `define`). Not defined under Node: code that runs in unit tests
// must not read them.

/** True only in a BUILD_TEST=1 build: gates test-only hooks, which a production build does not contain. */
declare const __TEST__: boolean;

/** Which browser the bundle is built for; the other browser's code is dropped from the bundle. */
declare const __BROWSER__: 'chromium' | 'firefox';
