import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createHttpService, createPool, isDatabaseReachable, migrate, type Logger } from '@ndx/service-kit';
import type { Config } from './config.ts';

export const SERVICE_NAME = 'orchestration-engine';
export const migrationsDir = join(import.meta.dirname, '..', 'migrations');

/** Builds the Orchestration Engine (GraphQL API) as a Fastify instance; its database is migrated first. */
export async function buildApp(config: Config, logger: Logger): Promise<FastifyInstance> {
  const pool = createPool(config.DATABASE_URL, logger, { applicationName: SERVICE_NAME });
  await migrate(pool, migrationsDir, logger);
  return createHttpService({
    name: SERVICE_NAME,
    logger,
    readinessChecks: { database: () => isDatabaseReachable(pool) },
    onClose: () => pool.end(),
  });
}
