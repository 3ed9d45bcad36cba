import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['ndx/*/test/**/*.test.ts', 'members/**/test/**/*.test.ts', 'tests/**/*.test.ts'],
    exclude: ['**/node_modules/**', '.tools/**'],
    globalSetup: ['tests/support/postgres-global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
  },
});
