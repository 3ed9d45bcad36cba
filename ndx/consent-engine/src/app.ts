import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  ACCESS_TOKEN_TYP,
  createTokenVerifier,
  defineService,
  withServiceDatabase,
  type Logger,
  type TokenVerifier,
} from '@ndx/service-kit';
import { accessLogRoutes, createAccessLogReader } from './access-log-routes.ts';
import { adminRoutes } from './admin-routes.ts';
import { loadOperatorRegistrations } from './operator-registrations.ts';
import { apiRoutes } from './api-routes.ts';
import { createApiAuthenticator } from './auth.ts';
import { readConfig, type Config } from './config.ts';
import { systemClock, type Clock } from './clock.ts';
import { createConsentStore } from './store-from-config.ts';
import { createPortalOidc } from './portal/oidc-client.ts';
import { portalRoutes } from './portal/routes.ts';
import { SessionStore } from './portal/sessions.ts';

export const SERVICE_NAME = 'consent-engine';
export const migrationsDir = join(import.meta.dirname, '..', 'migrations');

export interface AppOptions {
  /** Injected in tests to control expiry. */
  clock?: Clock;
  /** Injected in tests that hold FUDI's keys themselves; defaults to FUDI's JWKS. */
  tokenVerifier?: TokenVerifier;
}

/** Builds the Consent Engine and consent portal as a Fastify instance; its database is migrated first. */
export async function buildApp(
  config: Config,
  logger: Logger,
  options: AppOptions = {},
): Promise<FastifyInstance> {
  const clock = options.clock ?? systemClock;
  const database = { name: SERVICE_NAME, logger, databaseUrl: config.DATABASE_URL, migrationsDir };
  return withServiceDatabase(database, async ({ pool, httpService }) => {
    const publicUrl = config.CONSENT_PORTAL_PUBLIC_URL.replace(/\/$/, '');
    const registrations = await loadOperatorRegistrations(pool, logger, {
      refreshMs: config.CONSENT_REGISTRATIONS_REFRESH_MS,
    });
    const store = createConsentStore(config, pool, clock, registrations);
    const sessions = new SessionStore(pool, clock, config.CONSENT_SESSION_TTL_SECONDS);
    const verifier =
      options.tokenVerifier ??
      createTokenVerifier({
        issuer: config.FUDI_ISSUER,
        audience: config.CONSENT_AUDIENCE,
        typ: ACCESS_TOKEN_TYP,
      });
    const auth = createApiAuthenticator(
      verifier,
      config.CONSENT_SERVICE_CLIENTS,
      config.CONSENT_CITIZEN_CLIENTS,
      { clients: config.ADMIN_CLIENT_IDS, scope: config.ADMIN_SCOPE },
    );

    let sweepTimer: NodeJS.Timeout | undefined;
    const app = httpService({
      onClose: async () => {
        clearInterval(sweepTimer);
        registrations.stop();
      },
    });

    await app.register(apiRoutes({ store, auth, portalUrl: (id) => `${publicUrl}/consent/${id}` }));
    await app.register(
      adminRoutes({ pool, auth, clock, store, registrations, configured: config.CONSENT_CONSUMERS }),
    );
    const agencyOf = (providerKey: string) =>
      Object.hasOwn(config.CONSENT_PROVIDERS, providerKey)
        ? config.CONSENT_PROVIDERS[providerKey]!
        : providerKey;
    await app.register(
      portalRoutes({
        store,
        sessions,
        publicUrl,
        logger,
        agencyOf,
        pages: [
          accessLogRoutes({
            reader: config.AUDIT_DATABASE_URL
              ? createAccessLogReader(config.AUDIT_DATABASE_URL, logger)
              : undefined,
            store,
            purposes: config.CONSENT_PURPOSES,
            agencyOf,
            pageSize: config.ACCESS_LOG_PAGE_SIZE,
          }),
        ],
        oidc: createPortalOidc({
          issuer: config.FUDI_ISSUER,
          clientId: config.CONSENT_PORTAL_CLIENT_ID,
          clientSecret: config.CONSENT_PORTAL_CLIENT_SECRET,
          clientAuth: config.CONSENT_PORTAL_CLIENT_AUTH,
          redirectUri: `${publicUrl}/auth/callback`,
        }),
      }),
    );

    if (config.CONSENT_SWEEP_INTERVAL_SECONDS > 0) {
      let sweeping = false;
      sweepTimer = setInterval(() => {
        if (sweeping) return;
        sweeping = true;
        Promise.all([store.sweepExpired(), sessions.deleteExpired()])
          .then(([expired]) => {
            if (expired > 0) logger.info({ expired }, 'marked expired consents');
          })
          .catch((err: unknown) => logger.warn({ err }, 'expiry sweep failed'))
          .finally(() => (sweeping = false));
      }, config.CONSENT_SWEEP_INTERVAL_SECONDS * 1000);
      sweepTimer.unref();
    }
    return app;
  });
}

/** What the shared entry point (`@ndx/service-kit/serve`) starts. */
export const service = defineService({ name: SERVICE_NAME, readConfig, buildApp });
