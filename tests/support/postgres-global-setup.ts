import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '@ndx/service-kit/postgres';
import { freePort, randomSecret } from '../../ndx/service-kit/src/testing.ts';

/**
 * One real PostgreSQL for the whole test run: the server at TEST_DATABASE_URL when set
 * (an admin URL that may create databases), otherwise an embedded server in a temporary folder.
 * Each test file then creates its own fresh database on it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    project.provide('postgresAdminUrl', external);
    return async () => undefined;
  }
  const parent = await mkdtemp(join(tmpdir(), 'ndx-test-pg-'));
  await chmod(parent, 0o755);
  const server = await startEmbeddedPostgres({
    dataDir: join(parent, 'data'),
    port: await freePort(),
    superuserPassword: randomSecret(),
    ephemeral: true,
  });
  project.provide('postgresAdminUrl', server.adminUrl);
  return async () => {
    await server.stop();
    await rm(parent, { recursive: true, force: true });
  };
}
