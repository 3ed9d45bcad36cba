import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';
import { TimingSensitiveSpread } from './tests/support/sequencer.ts';

/** Stack tests whose figures (throughput, latency, recovery time) another stack starting beside them would skew. */
const timingSensitive = [
  'tests/soak.test.ts',
  'tests/faults-under-load.test.ts',
  'tests/rate-limit.test.ts',
  'tests/orchestration-faults.test.ts',
];

// One graphql module for our code and for Apollo (which loads graphql's CommonJS build): two copies would
// reject each other's schemas ("from another module or realm").
const graphqlEntry = createRequire(import.meta.url).resolve('graphql');

export default defineConfig({
  resolve: { alias: { graphql: graphqlEntry } },
  test: {
    exclude: ['**/node_modules/**', '.tools/**'],
    globalSetup: ['tests/support/postgres-global-setup.ts', 'tests/support/bundles-global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
    sequence: { sequencer: TimingSensitiveSpread },
    projects: [
      {
        // Each package's own tests (unit, and integration on a database of the shared PostgreSQL), after the stack
        // tests: in the last group, beside the timing-sensitive files (tests/support/sequencer.ts spreads those among
        // these, and one-at-a-time.ts runs them one at a time), so that the core a load test leaves partly idle is
        // used and no stack starts next to them.
        extends: true,
        test: {
          name: 'packages',
          include: ['ndx/*/test/**/*.test.ts', 'members/**/test/**/*.test.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        // The whole stack per file: two files at a time (each stack on its own ports and databases), first.
        extends: true,
        test: {
          name: 'stack',
          include: ['tests/**/*.test.ts'],
          // Two stacks share two cores: a step that waits on another stack's CPU gets more time before it
          // counts as hung.
          testTimeout: 60_000,
          exclude: ['**/node_modules/**', '.tools/**', ...timingSensitive],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Load, faults and the soak measure throughput, latency and recovery: last, one file at a time
        // (one-at-a-time.ts), so that no other stack starts next to them; the packages' tests run beside them. A
        // group has one worker count (vitest), hence 2 here as for the packages.
        extends: true,
        test: {
          name: 'stack-alone',
          include: timingSensitive,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
