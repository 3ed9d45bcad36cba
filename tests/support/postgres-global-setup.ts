import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestProject } from 'vitest/node';

/**
 * One real PostgreSQL for the whole test run: the server at TEST_DATABASE_URL when set (an admin URL
 * that may create databases), otherwise an embedded server run by tests/support/postgres-server.ts in a
 * child process. Each test file then creates its own fresh database on it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    project.provide('postgresAdminUrl', external);
    return async () => undefined;
  }
  const child = spawn(process.execPath, [join(import.meta.dirname, 'postgres-server.ts')], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const adminUrl = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      try {
        resolve((JSON.parse(line) as { adminUrl: string }).adminUrl);
      } catch (err) {
        reject(err as Error);
      }
    });
    child.once('exit', (code) => reject(new Error(`the test PostgreSQL exited early (code ${code})`)));
  });
  project.provide('postgresAdminUrl', adminUrl);
  return async () => {
    child.kill('SIGTERM');
    await exited;
  };
}
