import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createHttpService, createPool, isDatabaseReachable, migrate, type Logger } from '@ndx/service-kit';
import { ApplicationStore } from './applications.ts';
import type { Config } from './config.ts';
import { ConsentStateStore } from './consent-states.ts';
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
  const pool = createPool(config.DATABASE_URL, logger, { applicationName: SERVICE_NAME });
  try {
    await migrate(pool, migrationsDir, logger);
  } catch (err) {
    await pool.end();
    throw err;
  }
  const sessions = new SessionStore(pool, now, config.PASSPORT_APP_SESSION_TTL_SECONDS);
  const states = new ConsentStateStore(pool, now, config.PASSPORT_APP_STATE_TTL_SECONDS);
  const applications = new ApplicationStore(pool, now);
  const ndx = createNdxClient(config, logger, now);

  const cleanup = setInterval(() => {
    Promise.all([sessions.deleteExpired(), states.deleteExpired()]).catch((err: unknown) =>
      logger.warn({ err: (err as Error).message }, 'could not delete expired sessions'),
    );
  }, CLEANUP_INTERVAL_MS);
  cleanup.unref();

  const app = createHttpService({
    name: SERVICE_NAME,
    logger,
    readinessChecks: { database: () => isDatabaseReachable(pool) },
    onClose: async () => {
      clearInterval(cleanup);
      await pool.end();
    },
  });
  await app.register(passportRoutes, { config, sessions, applications, states, ndx, now });
  return app;
}
