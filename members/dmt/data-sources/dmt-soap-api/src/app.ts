import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createHttpService, createPool, isDatabaseReachable, migrate, type Logger } from '@ndx/service-kit';
import type { Config } from './config.ts';
import { registerSoapEndpoint } from './soap-endpoint.ts';
import { vehicleRegistry } from './vehicle-registry.ts';

export const SERVICE_NAME = 'dmt-soap-api';
export const migrationsDir = join(import.meta.dirname, '..', 'migrations');

/** Builds the DMT vehicle registry (legacy SOAP) as a Fastify instance; its database is migrated first. */
export async function buildApp(config: Config, logger: Logger): Promise<FastifyInstance> {
  const pool = createPool(config.DATABASE_URL, logger, { applicationName: SERVICE_NAME });
  await migrate(pool, migrationsDir, logger);
  const app = createHttpService({
    name: SERVICE_NAME,
    logger,
    readinessChecks: { database: () => isDatabaseReachable(pool) },
    onClose: () => pool.end(),
  });
  await registerSoapEndpoint(app, vehicleRegistry(pool), logger, config.PUBLIC_URL);
  return app;
}
