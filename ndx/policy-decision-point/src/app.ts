import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  ACCESS_TOKEN_TYP,
  createTokenVerifier,
  defineService,
  withServiceDatabase,
  type Logger,
} from '@ndx/service-kit';
import { adminRoutes } from './admin-routes.ts';
import { createCallerAuth } from './caller-auth.ts';
import { readConfig, type Config } from './config.ts';
import { consumerRoutes } from './consumer-routes.ts';
import { assertTimeZone } from './decision-engine.ts';
import { decisionRoutes } from './decision-routes.ts';
import { createTableCache } from './decision-table.ts';
import { createPolicyFeed } from './policy-feed.ts';
import { createPolicyRuntime } from './policy-runtime.ts';
import { seedIfEmpty } from './policy-store.ts';
import { farajalandSeed } from './seed-farajaland.ts';
import { tableRoutes } from './table-routes.ts';

export const SERVICE_NAME = 'policy-decision-point';
export const migrationsDir = join(import.meta.dirname, '..', 'migrations');

export interface AppOptions {
  /** The clock decisions use (time windows, grant expiry). Tests inject one. */
  clock?: () => Date;
}

/**
 * Builds the Policy Decision Point: migrates its database, seeds Farajaland when empty, loads and
 * compiles the active policy version, and serves POST /v1/decisions, decision tables, the policy change
 * feed and the admin API.
 */
export async function buildApp(
  config: Config,
  logger: Logger,
  options: AppOptions = {},
): Promise<FastifyInstance> {
  assertTimeZone(config.POLICY_TIME_ZONE);
  const clock = options.clock ?? (() => new Date());
  const database = { name: SERVICE_NAME, logger, databaseUrl: config.DATABASE_URL, migrationsDir };
  return withServiceDatabase(database, async ({ pool, httpService }) => {
    const runtime = createPolicyRuntime({
      pool,
      databaseUrl: config.DATABASE_URL,
      logger,
      refreshMs: config.POLICY_REFRESH_MS,
    });
    try {
      if (config.SEED_FARAJALAND && (await seedIfEmpty(pool, farajalandSeed))) {
        logger.info('seeded the Farajaland policy version 1');
      }
      await runtime.start();
    } catch (err) {
      await runtime.stop();
      throw err;
    }

    const feed = createPolicyFeed({
      activeVersion: () => runtime.active().version,
      leaseMs: config.POLICY_FEED_LEASE_MS,
      holdMs: config.POLICY_FEED_HOLD_MS,
      logger,
    });
    runtime.onActivated(() => feed.changed());
    const app = httpService({
      readinessChecks: { policy: async () => runtime.activeVersion() !== null },
      onClose: async () => {
        feed.stop();
        await runtime.stop();
      },
    });
    const verifier = createTokenVerifier({
      issuer: config.FUDI_ISSUER,
      audience: config.PDP_AUDIENCE,
      typ: ACCESS_TOKEN_TYP,
      ...(config.FUDI_JWKS_URI ? { jwksUri: config.FUDI_JWKS_URI } : {}),
    });
    const auth = createCallerAuth(verifier, {
      decisionClients: config.DECISION_CLIENT_IDS,
      adminClients: config.ADMIN_CLIENT_IDS,
      adminScope: config.ADMIN_SCOPE,
    });
    const timeZone = config.POLICY_TIME_ZONE;
    decisionRoutes(app, { auth, runtime, clock, timeZone });
    tableRoutes(app, { auth, runtime, feed, tables: createTableCache(), clock, timeZone });
    consumerRoutes(app, { auth, runtime });
    adminRoutes(app, { auth, runtime, feed, pool, clock, timeZone });
    return app;
  });
}

/** What the shared entry point (`@ndx/service-kit/serve`) starts. */
export const service = defineService({ name: SERVICE_NAME, readConfig, buildApp });
