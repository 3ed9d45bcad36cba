import pg from 'pg';
import type { Logger } from 'pino';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  max?: number;
  /** Applied to every statement on the pool's connections. */
  statementTimeoutMs?: number;
  connectionTimeoutMs?: number;
  applicationName?: string;
}

/** A pg pool whose connection errors (e.g. the server restarting) are logged once instead of crashing the process. */
export function createPool(connectionString: string, logger: Logger, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: options.statementTimeoutMs ?? 15_000,
    application_name: options.applicationName,
  });
  // Every connection logs its own failure, idle or checked out. pg-pool listens for a connection's errors only
  // while it is idle (and re-emits them on the pool, which needs a listener so as not to crash the process); one
  // that fails while checked out (the server restarting under a transaction) would emit 'error' with no listener
  // and crash the process. Its statement is rejected anyway, and release() drops the broken connection.
  pool.on('error', () => undefined);
  pool.on('connect', (client) =>
    client.on('error', (err) => logger.warn({ err: err.message }, 'database connection failed')),
  );
  return pool;
}

/** Runs fn in a transaction; rolls back on any error and rethrows it. */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** True when a trivial query succeeds within timeoutMs. */
export async function isDatabaseReachable(pool: pg.Pool, timeoutMs = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('database check timed out')), timeoutMs);
    });
    await Promise.race([pool.query('SELECT 1'), timeout]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** The same server URL pointing at another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
