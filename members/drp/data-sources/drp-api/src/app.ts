import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createHttpService, createPool, isDatabaseReachable, migrate, type Logger } from '@ndx/service-kit';
import type { Config } from './config.ts';
import { openApiDocument } from './openapi.ts';
import { registerPersonRoutes } from './person-routes.ts';

export const SERVICE_NAME = 'drp-api';
export const migrationsDir = join(import.meta.dirname, '..', 'migrations');

/** Builds the DRP person registry (legacy REST) as a Fastify instance; its database is migrated first. */
export async function buildApp(config: Config, logger: Logger): Promise<FastifyInstance> {
  const pool = createPool(config.DATABASE_URL, logger, { applicationName: SERVICE_NAME });
  await migrate(pool, migrationsDir, logger);
  const app = createHttpService({
    name: SERVICE_NAME,
    logger,
    readinessChecks: { database: () => isDatabaseReachable(pool) },
    onClose: () => pool.end(),
  });
  app.get('/openapi.json', async () => openApiDocument);
  registerPersonRoutes(app, pool, [config.API_KEY]);
  return app;
}
