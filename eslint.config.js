// ESLint + typescript-eslint (type-aware) for correctness, Prettier for layout. Chosen over Biome
// because Biome ships a native binary per platform through optional packages, and `npm ci` here
// refused a lockfile missing the platforms the registry did not serve; these are plain
// JavaScript packages. The type-aware rules that matter most for a store whose every write is a
// promise (floating and misused promises) come from typescript-eslint's project service.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'test/fixtures/**', '.tmp/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'before', 'after', 'beforeEach', 'afterEach'] }] }
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      // `_`-prefixed names mark parameters kept for a signature.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }]
    }
  },
  {
    // Library code never logs: secrets must not reach logs, and output belongs to the CLI's ctx.stdout.
    files: ['src/**'],
    ignores: ['src/sim/**'],
    rules: { 'no-console': 'error' }
  },
  {
    // Tests feed malformed input with `as any` to prove validation; benchmarks build raw Baileys values.
    files: ['test/**', 'bench/**', 'scripts/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' }
  }
)
