/**
 * The long forms of the reliability tests (`npm run reliability`; not part of ./test.sh): the same three test
 * files the suite runs in their bounded forms, one after the other on a quiet machine, with bigger bounds:
 *
 *   tests/no-data-without-permission.property.test.ts   FC_RUNS=10000 generated operations (default 1000)
 *   tests/faults-under-load.test.ts                     FAULT_ROUNDS=3 rounds of the five faults (default 1)
 *   tests/soak.test.ts                                  SOAK_SECONDS=600 at half the maximum load (default 60),
 *                                                       after SOAK_WARMUP_SECONDS=30 (default 15)
 *
 * Each prints its figures (the property's seed and count; error rate and recovery time per fault; the RSS,
 * descriptor and connection curves of the soak). Any of these variables already set in the environment
 * wins, so `SOAK_SECONDS=1800 npm run reliability` soaks for half an hour. Exits with vitest's status.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '..');
const env = {
  ...process.env,
  FC_RUNS: process.env.FC_RUNS ?? '10000',
  FAULT_ROUNDS: process.env.FAULT_ROUNDS ?? '3',
  SOAK_SECONDS: process.env.SOAK_SECONDS ?? '600',
  SOAK_WARMUP_SECONDS: process.env.SOAK_WARMUP_SECONDS ?? '30',
};
const files = [
  'tests/no-data-without-permission.property.test.ts',
  'tests/faults-under-load.test.ts',
  'tests/soak.test.ts',
];
console.log(
  `reliability (long form): FC_RUNS=${env.FC_RUNS} FAULT_ROUNDS=${env.FAULT_ROUNDS} SOAK_SECONDS=${env.SOAK_SECONDS} SOAK_WARMUP_SECONDS=${env.SOAK_WARMUP_SECONDS}`,
);
const vitest = resolve(repoRoot, 'node_modules', 'vitest', 'vitest.mjs');
const child = spawn(
  process.execPath,
  [vitest, 'run', '--no-file-parallelism', '--reporter=verbose', ...files, ...process.argv.slice(2)],
  { cwd: repoRoot, env, stdio: 'inherit' },
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
