import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createPool, isDatabaseReachable, type Pool } from './database.ts';
import { createHttpService, type HttpServiceOptions } from './http-service.ts';
import { migrate } from './migrations.ts';

export interface ServiceDatabaseOptions {
  /** The service's name: its HTTP service's and its connections' application_name. */
  name: string;
  logger: Logger;
  databaseUrl: string;
  /** The folder of the service's numbered SQL migrations (the orchestration engine's: the audit log's). */
  migrationsDir: string;
}

export interface ServiceDatabase {
  /** The migrated pool. */
  pool: Pool;
  /**
   * createHttpService for this service (its name and logger): GET /ready checks the database besides
   * the given checks, and closing the instance ends the pool after the given onClose.
   */
  httpService: (options?: Omit<HttpServiceOptions, 'name' | 'logger'>) => FastifyInstance;
}

/**
 * The prelude of every database-backed service: opens a pool, migrates it, and hands it to build,
 * which builds the service (with `httpService`). When migrating or build fails, the pool is ended
 * and the error rethrown, so a service that does not start leaves no connection open.
 */
export async function withServiceDatabase<T>(
  options: ServiceDatabaseOptions,
  build: (database: ServiceDatabase) => Promise<T>,
): Promise<T> {
  const { name, logger } = options;
  const pool = createPool(options.databaseUrl, logger, { applicationName: name });
  try {
    await migrate(pool, options.migrationsDir, logger);
    return await build({
      pool,
      httpService: ({ readinessChecks, onClose, ...rest } = {}) =>
        createHttpService({
          ...rest,
          name,
          logger,
          readinessChecks: { database: () => isDatabaseReachable(pool), ...readinessChecks },
          onClose: async () => {
            try {
              await onClose?.();
            } finally {
              await pool.end();
            }
          },
        }),
    });
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
}
