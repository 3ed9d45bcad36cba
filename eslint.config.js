import js from '@eslint/js';
import vitest from '@vitest/eslint-plugin';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.tools/**', '.data/**', 'test-artifacts/**', '**/public/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      'no-console': ['error', { allow: ['error', 'warn'] }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: [
      '**/scripts/**',
      '**/bin/**',
      '**/cli/**',
      '**/cli.ts',
      'bench/**',
      '**/*-cli.ts',
      'ndx/stack/src/compose-env.ts',
    ],
    rules: { 'no-console': 'off' },
  },
  // Production code imports no test helper: those live in each workspace's testing/ entry, outside src/
  // (tests/workspace-boundaries.test.ts checks the rest of the import graph: cycles, declared packages, layers).
  {
    files: ['ndx/*/src/**/*.ts', 'members/**/src/**/*.ts', '**/stack.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@ndx/*/testing', '@ndx/*/testing-*', '**/testing/**', 'vitest', 'vitest/*'],
              message: 'Production code imports no test helper (testing entries are for tests).',
            },
          ],
        },
      ],
    },
  },
  // Tests that can fail: none focused or skipped, each checks something, no "is defined" on a value
  // the test could as well have asserted concretely.
  {
    files: ['**/*.test.ts'],
    plugins: { vitest },
    rules: {
      'vitest/no-focused-tests': 'error',
      'vitest/no-disabled-tests': 'error',
      'vitest/no-identical-title': 'error',
      'vitest/expect-expect': [
        'error',
        { assertFunctionNames: ['expect', 'expect*', 'assert*', '**.waitFor', '**.waitForURL'] },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='toBeDefined']",
          message:
            'toBeDefined() says almost nothing: assert the concrete value (or its shape) the behaviour promises.',
        },
        {
          selector: 'CallExpression[callee.property.name=/^(todo|skipIf|runIf)$/]',
          message: 'A test that may not run proves nothing: make it run everywhere, or leave it out.',
        },
      ],
    },
  },
);
