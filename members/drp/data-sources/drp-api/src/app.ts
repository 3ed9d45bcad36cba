import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { defineService, withServiceDatabase, type Logger } from '@ndx/service-kit';
import { readConfig, type Config } from './config.ts';
import { openApiDocument } from './openapi.ts';
import { registerPersonRoutes } from './person-routes.ts';

export const SERVICE_NAME = 'drp-api';
export const migrationsDir = join(import.meta.dirname, '..', 'migrations');

/** Builds the DRP person registry (legacy REST) as a Fastify instance; its database is migrated first. */
export async function buildApp(config: Config, logger: Logger): Promise<FastifyInstance> {
  const database = { name: SERVICE_NAME, logger, databaseUrl: config.DATABASE_URL, migrationsDir };
  return withServiceDatabase(database, async ({ pool, httpService }) => {
    const app = httpService();
    app.get('/openapi.json', async () => openApiDocument);
    registerPersonRoutes(app, pool, [config.API_KEY]);
    return app;
  });
}

/** What the shared entry point (`@ndx/service-kit/serve`) starts. */
export const service = defineService({ name: SERVICE_NAME, readConfig, buildApp });
