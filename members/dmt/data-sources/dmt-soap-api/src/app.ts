import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { defineService, withServiceDatabase, type Logger } from '@ndx/service-kit';
import { readConfig, type Config } from './config.ts';
import { registerSoapEndpoint } from './soap-endpoint.ts';
import { vehicleRegistry } from './vehicle-registry.ts';

export const SERVICE_NAME = 'dmt-soap-api';
export const migrationsDir = join(import.meta.dirname, '..', 'migrations');

/** Builds the DMT vehicle registry (legacy SOAP) as a Fastify instance; its database is migrated first. */
export async function buildApp(config: Config, logger: Logger): Promise<FastifyInstance> {
  const database = { name: SERVICE_NAME, logger, databaseUrl: config.DATABASE_URL, migrationsDir };
  return withServiceDatabase(database, async ({ pool, httpService }) => {
    const app = httpService();
    await registerSoapEndpoint(app, vehicleRegistry(pool), logger, config.PUBLIC_URL);
    return app;
  });
}

/** What the shared entry point (`@ndx/service-kit/serve`) starts. */
export const service = defineService({ name: SERVICE_NAME, readConfig, buildApp });
