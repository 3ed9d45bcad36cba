import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// One graphql module for our code and for Apollo (which loads graphql's CommonJS build): two copies would
// reject each other's schemas ("from another module or realm").
const graphqlEntry = createRequire(import.meta.url).resolve('graphql');

export default defineConfig({
  resolve: { alias: { graphql: graphqlEntry } },
  test: {
    exclude: ['**/node_modules/**', '.tools/**'],
    globalSetup: ['tests/support/postgres-global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
    projects: [
      {
        // Each package's own tests (unit, and integration on a database of the shared PostgreSQL): two files
        // at a time, first.
        extends: true,
        test: {
          name: 'packages',
          include: ['ndx/*/test/**/*.test.ts', 'members/**/test/**/*.test.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        // The whole stack per file, under load, faults and a soak: one file at a time, after the packages,
        // so that no test measures recovery or latency while another stack starts next to it.
        extends: true,
        test: {
          name: 'stack',
          include: ['tests/**/*.test.ts'],
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
