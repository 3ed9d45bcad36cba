import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { defineService, withServiceDatabase, type Logger } from '@ndx/service-kit';
import { createAccessTokens } from './access-tokens.ts';
import { readConfig, type Config } from './config.ts';
import { graphqlRoutes } from './graphql-routes.ts';
import { registerClient } from './oauth-clients.ts';
import { oauthRoutes } from './oauth-routes.ts';
import { loadOrCreateSigningKey } from './signing-key.ts';

export const SERVICE_NAME = 'rgd-api';
export const migrationsDir = join(import.meta.dirname, '..', 'migrations');
/** The OAuth2 client through which NDX reads the birth register. */
export const NDX_CLIENT_ID = 'ndx';
export const READ_SCOPE = 'birth-records:read';

export interface BuildOptions {
  /** The clock for issuing and checking tokens (tests move it forward). */
  clock?: () => Date;
}

/** Builds the RGD birth registry (native GraphQL) as a Fastify instance; its database is migrated first. */
export async function buildApp(
  config: Config,
  logger: Logger,
  options: BuildOptions = {},
): Promise<FastifyInstance> {
  const database = { name: SERVICE_NAME, logger, databaseUrl: config.DATABASE_URL, migrationsDir };
  return withServiceDatabase(database, async ({ pool, httpService }) => {
    await registerClient(pool, NDX_CLIENT_ID, config.RGD_NDX_CLIENT_SECRET, [READ_SCOPE]);
    const key = await loadOrCreateSigningKey(pool, logger);
    const issuer = config.RGD_ISSUER.replace(/\/$/, '');
    const tokens = createAccessTokens({
      key,
      issuer,
      ttlSeconds: config.RGD_TOKEN_TTL_SECONDS,
      clock: options.clock ?? (() => new Date()),
    });
    const app = httpService({ bodyLimitBytes: 64 * 1024 });
    await app.register(oauthRoutes, { pool, tokens, key, issuer });
    await app.register(graphqlRoutes, { pool, tokens });
    return app;
  });
}

/** What the shared entry point (`@ndx/service-kit/serve`) starts. */
export const service = defineService({ name: SERVICE_NAME, readConfig, buildApp });
