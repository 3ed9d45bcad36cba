import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { postgresAdminUrl } from '@ndx/service-kit/testing';
import { clientCredentialsToken } from './client-token.ts';
import { stackPortOffset } from './port-offset.ts';
import { startStack, type RunningStack, type ServiceName, type StackOptions } from '@ndx/stack';

export const repoRoot = resolve(import.meta.dirname, '..', '..');

export interface TestStack {
  stack: RunningStack;
  url: (name: ServiceName) => string;
  secret: (name: string) => string;
  databaseUrl: (database: string) => string;
  /** The folder each service writes its whole log to, as `<service>.log` (removed by stop). */
  logDir: string;
  /** A client-credentials access token from the stack's FUDI. */
  clientToken: (clientId: string, resource: string, scope?: string) => Promise<string>;
  stop: () => Promise<void>;
}

/**
 * The real stack, started exactly as ./init.sh starts it (same launcher, same wiring), on a random
 * port offset with its own data folder, secrets and a small seed, for end-to-end tests.
 */
export async function startTestStack(
  options: {
    only?: ServiceName[];
    seedCitizens?: number;
    /** An existing data folder and secrets file to start from (a restored backup); kept when the stack stops. */
    dataDir?: string;
    secretsFile?: string;
    /** The services' log level (default TEST_LOG_LEVEL, else warn). */
    logLevel?: string;
    /** Supervise the services as ./init.sh does (default off: fault tests kill and restart them themselves). */
    supervise?: StackOptions['supervise'];
    /** Where the launcher's progress and reports go (default nowhere). */
    print?: (line: string) => void;
    /**
     * An embedded PostgreSQL of its own, in the data folder, as ./init.sh runs it: for tests that restart
     * PostgreSQL or run bin/ndx (which finds the databases by the local stack's layout). Otherwise the stack's
     * databases, under a prefix of their own, live on the test run's shared server and are dropped at stop.
     */
    ownPostgres?: boolean;
  } = {},
): Promise<TestStack> {
  const folder = await mkdtemp(join(tmpdir(), 'ndx-stack-'));
  await chmod(folder, 0o755);
  process.env.SEED_CITIZENS = String(options.seedCitizens ?? 2_000);
  const sharedServer = options.ownPostgres || options.dataDir ? undefined : postgresAdminUrl();
  const databasePrefix = `s${randomBytes(4).toString('hex')}_`;
  let stack: RunningStack | undefined;
  let dataDir = '';
  let lastError: unknown;
  for (let attempt = 0; attempt < 4 && !stack; attempt++) {
    const offset = stackPortOffset(11_000);
    dataDir = options.dataDir ?? join(folder, `data-${attempt}`);
    try {
      stack = await startStack({
        repoRoot,
        dataDir,
        secretsFile: options.secretsFile ?? join(folder, 'secrets.json'),
        portOffset: offset,
        only: options.only,
        logLevel: options.logLevel ?? process.env.TEST_LOG_LEVEL ?? 'warn',
        print: options.print ?? (() => undefined),
        ...(options.supervise ? { supervise: options.supervise } : {}),
        ...(sharedServer ? { databaseUrl: sharedServer, databasePrefix } : {}),
        printServiceLog: process.env.TEST_LOG_LEVEL ? (line) => console.error(line) : () => undefined,
      });
    } catch (err) {
      lastError = err;
      if (!/already in use/.test((err as Error).message)) throw err;
    }
  }
  if (!stack) throw lastError;
  const running = stack;
  const { context } = running;
  return {
    stack: running,
    url: (name) => context.url(name),
    secret: (name) => context.secret(name),
    databaseUrl: (database) => context.databaseUrl(database),
    logDir: join(dataDir, 'logs'),
    clientToken: (clientId, resource, scope) =>
      clientCredentialsToken(
        context.url('identity-provider'),
        { id: clientId, secret: context.secret(`fudi.client.${clientId}`) },
        resource,
        scope,
      ),
    stop: async () => {
      await running.stop();
      if (sharedServer) await dropPrefixed(sharedServer, databasePrefix);
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/** Drops the databases and roles a stack made on the shared server. */
async function dropPrefixed(adminUrl: string, prefix: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const like = `${prefix.replaceAll('_', '\\_')}%`;
    const databases = await client.query<{ name: string }>(
      'SELECT datname AS name FROM pg_database WHERE datname LIKE $1',
      [like],
    );
    for (const { name } of databases.rows)
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    const roles = await client.query<{ name: string }>(
      'SELECT rolname AS name FROM pg_roles WHERE rolname LIKE $1',
      [like],
    );
    for (const { name } of roles.rows) await client.query(`DROP ROLE IF EXISTS "${name}"`);
  } finally {
    await client.end();
  }
}
