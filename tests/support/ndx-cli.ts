import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { services } from '@ndx/stack';
import { repoRoot, type TestStack } from './test-stack.ts';

const ndx = join(repoRoot, 'bin', 'ndx');

export interface NdxRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** What an operator's shell has for the stack: its port offset, secrets file and data folder. */
export function ndxEnvOf(t: TestStack): Record<string, string> {
  const oe = services.find((s) => s.name === 'orchestration-engine')!;
  return {
    NDX_PORT_OFFSET: String(t.stack.context.port('orchestration-engine') - oe.defaultPort),
    NDX_SECRETS_FILE: t.stack.secretsFile,
    NDX_DATA_DIR: t.stack.context.dataDir,
  };
}

/** Runs bin/ndx (the bash wrapper, as an operator would) with exactly this environment on top of PATH and HOME. */
export function runNdx(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<NdxRun> {
  return new Promise((done) => {
    execFile(
      ndx,
      args,
      { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}
