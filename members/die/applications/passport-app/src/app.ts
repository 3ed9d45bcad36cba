import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { defineService, withServiceDatabase, type Logger } from '@ndx/service-kit';
import { ApplicationStore } from './applications.ts';
import { readConfig, type Config } from './config.ts';
import { createFudiSignIn } from './fudi-sign-in.ts';
import { OAuthStateStore } from './oauth-states.ts';
import { createNdxClient } from './ndx-client.ts';
import { passportRoutes } from './routes.ts';
import { SessionStore } from './sessions.ts';

export const SERVICE_NAME = 'passport-app';
export const migrationsDir = join(import.meta.dirname, '..', 'migrations');

export interface PassportAppOptions {
  /** The clock (tests move it to expire sessions and states). */
  now?: () => Date;
}

const CLEANUP_INTERVAL_MS = 10 * 60 * 1000;

/** Builds the DIE passport app as a Fastify instance; its database is migrated first. */
export async function buildApp(
  config: Config,
  logger: Logger,
  options: PassportAppOptions = {},
): Promise<FastifyInstance> {
  const now = options.now ?? (() => new Date());
  const database = { name: SERVICE_NAME, logger, databaseUrl: config.DATABASE_URL, migrationsDir };
  return withServiceDatabase(database, async ({ pool, httpService }) => {
    const sessions = new SessionStore(pool, now, config.PASSPORT_APP_SESSION_TTL_SECONDS);
    const states = new OAuthStateStore(pool, now, config.PASSPORT_APP_STATE_TTL_SECONDS);
    const applications = new ApplicationStore(pool, now);
    const ndx = createNdxClient(config, logger, now);
    const fudi = createFudiSignIn({
      issuer: config.FUDI_ISSUER,
      clientId: config.PASSPORT_APP_CLIENT_ID,
      clientSecret: config.PASSPORT_APP_CLIENT_SECRET,
      redirectUri: `${config.PASSPORT_APP_PUBLIC_URL}/auth/callback`,
      postLogoutRedirectUri: `${config.PASSPORT_APP_PUBLIC_URL}/`,
      timeoutMs: Math.min(config.NDX_API_TIMEOUT_MS, 10_000),
    });

    const cleanup = setInterval(() => {
      Promise.all([sessions.deleteExpired(), states.deleteExpired()]).catch((err: unknown) =>
        logger.warn({ err: (err as Error).message }, 'could not delete expired sessions'),
      );
    }, CLEANUP_INTERVAL_MS);
    cleanup.unref();

    const app = httpService({ onClose: async () => clearInterval(cleanup) });
    await app.register(passportRoutes, { config, sessions, applications, states, ndx, fudi, now });
    return app;
  });
}

/** What the shared entry point (`@ndx/service-kit/serve`) starts. */
export const service = defineService({ name: SERVICE_NAME, readConfig, buildApp });
