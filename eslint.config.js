import js from '@eslint/js';
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
);
