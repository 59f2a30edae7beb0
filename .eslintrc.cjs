// ESLint 8 (eslintrc) with typescript-eslint's recommended rules. Formatting is not linted.
// Type-aware rules are left out on purpose: `npm run typecheck` (tsc, strict) already type-checks everything,
// undefined names included (typescript-eslint's config turns `no-undef` off for TypeScript).
module.exports = {
  root: true,
  env: { es2022: true, browser: true, node: true, webextensions: true },
  parserOptions: { ecmaVersion: 2022, sourceType: 'module' },
  ignorePatterns: ['dist/', 'dist-*/', 'scratch/', 'node_modules/', 'out/', '.cache/', 'test-results/', 'bench/results/'],
  extends: ['eslint:recommended'],
  rules: {
    eqeqeq: ['error', 'always', { null: 'ignore' }],
    'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
  },
  overrides: [
    {
      files: ['*.ts', '*.tsx', '*.mts'],
      parser: '@typescript-eslint/parser',
      plugins: ['@typescript-eslint'],
      extends: ['plugin:@typescript-eslint/recommended'],
      rules: {
        '@typescript-eslint/no-unused-vars': [
          'error',
          {
            argsIgnorePattern: '^_',
            varsIgnorePattern: '^_',
            destructuredArrayIgnorePattern: '^_',
            ignoreRestSiblings: true,
          },
        ],
        // With isolatedModules, a type imported as a value is an error waiting for the bundler.
        '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      },
    },
    {
      files: ['*.mjs'], // build.mjs and scripts/: ESLint 8 lints only .js files unless an override names others.
    },
    {
      files: ['*.cjs'],
      parserOptions: { sourceType: 'script' },
    },
  ],
};
