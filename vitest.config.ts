import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// One graphql module for our code and for Apollo (which loads graphql's CommonJS build): two copies would
// reject each other's schemas ("from another module or realm").
const graphqlEntry = createRequire(import.meta.url).resolve('graphql');

export default defineConfig({
  resolve: { alias: { graphql: graphqlEntry } },
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
