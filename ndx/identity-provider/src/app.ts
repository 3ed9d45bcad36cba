import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type Provider from 'oidc-provider';
import type { JWK } from 'jose';
import {
  ACCESS_TOKEN_TYP,
  createTokenVerifier,
  defineService,
  withServiceDatabase,
  type Logger,
  type Pool,
} from '@ndx/service-kit';
import { fudiAdminRoutes } from './admin-routes.ts';
import { purgeExpiredPayloads } from './adapter.ts';
import { createCitizenStore, type CitizenStore } from './citizens.ts';
import { createClientStore, type ClientStore } from './clients.ts';
import { readConfig, type Config } from './config.ts';
import { interactionRoutes } from './interactions.ts';
import { createProvider } from './provider.ts';
import { createSigningKeyStore, type SigningKeyStore } from './signing-keys.ts';
import { createLoginThrottle, type LoginThrottle } from './throttle.ts';

export const SERVICE_NAME = 'identity-provider';
export const migrationsDir = join(import.meta.dirname, '..', 'migrations');

/** Paths FUDI serves itself; every other path goes to oidc-provider. */
const OWN_PATHS = /^\/(health|ready|metrics|interaction\/|admin\/)/;

export interface IdentityProvider {
  app: FastifyInstance;
  pool: Pool;
  clients: ClientStore;
  citizens: CitizenStore;
  keys: SigningKeyStore;
  throttle: LoginThrottle;
  /** The oidc-provider instance in use (rebuilt when the signing keys change). */
  provider: () => Provider;
  /** Reloads signing keys from the database now (after a rotation); true when they changed. */
  reloadKeys: () => Promise<boolean>;
}

export interface IdentityProviderOptions {
  /** The clock of the sign-in lock-out (default: the real time); tests inject one to move past the window. */
  now?: () => Date;
}

/** Opens the database (migrated), registers configured clients and seed citizen accounts, builds the service. */
export async function buildIdentityProvider(
  config: Config,
  logger: Logger,
  options: IdentityProviderOptions = {},
): Promise<IdentityProvider> {
  const database = { name: SERVICE_NAME, logger, databaseUrl: config.DATABASE_URL, migrationsDir };
  return withServiceDatabase(database, async ({ pool, httpService }) => {
    const clients = createClientStore(pool);
    const citizens = createCitizenStore(pool);
    const keys = createSigningKeyStore(pool);
    const throttle = createLoginThrottle(pool, {
      maxFailuresPerNic: config.FUDI_LOCKOUT_MAX_FAILURES,
      maxFailuresPerAddress: config.FUDI_LOCKOUT_MAX_FAILURES * 4,
      windowSeconds: config.FUDI_LOCKOUT_WINDOW_SECONDS,
      ...(options.now ? { now: options.now } : {}),
    });
    await keys.ensureActiveKey();
    await clients.syncFromConfig(config.FUDI_CLIENTS);
    // Concurrently: each new account costs a scrypt hash, which runs on libuv's thread pool.
    await Promise.all(
      config.FUDI_SEED_ACCOUNTS.map(async (account) => {
        if (await citizens.insertIfMissing(account)) {
          logger.info({ nic: account.nic }, 'seed citizen account created');
        }
      }),
    );

    const build = (jwks: JWK[]) =>
      createProvider({
        issuer: config.FUDI_ISSUER,
        pool,
        clients,
        citizens,
        keys: jwks,
        cookieKeys: config.FUDI_COOKIE_SECRET.split(','),
        lifetimes: {
          accessTokenSeconds: config.FUDI_ACCESS_TOKEN_TTL_SECONDS,
          idTokenSeconds: 3600,
          refreshTokenSeconds: config.FUDI_REFRESH_TOKEN_TTL_SECONDS,
          sessionSeconds: 8 * 3600,
        },
        logger,
      });
    let currentKids = '';
    let provider: Provider | undefined;
    let callback: ReturnType<Provider['callback']> | undefined;
    const reloadKeys = async () => {
      const jwks = await keys.currentKeys();
      const kids = jwks.map((k) => k.kid).join(',');
      if (provider && kids === currentKids) return false;
      provider = build(jwks);
      callback = provider.callback();
      currentKids = kids;
      return true;
    };
    await reloadKeys();
    const current = () => provider!;

    const timers: NodeJS.Timeout[] = [];
    if (config.FUDI_KEY_REFRESH_SECONDS > 0) {
      timers.push(
        setInterval(() => {
          reloadKeys().then(
            (changed) => changed && logger.info({ kids: currentKids }, 'signing keys reloaded'),
            (err: unknown) => logger.warn({ err }, 'could not reload signing keys'),
          );
        }, config.FUDI_KEY_REFRESH_SECONDS * 1000),
      );
    }
    timers.push(
      setInterval(() => {
        purgeExpiredPayloads(pool).catch((err: unknown) =>
          logger.warn({ err }, 'could not purge expired rows'),
        );
      }, 10 * 60_000),
    );
    for (const timer of timers) timer.unref();

    const app = httpService({
      onClose: async () => {
        for (const timer of timers) clearInterval(timer);
      },
    });
    await app.register(interactionRoutes, { provider: current, citizens, throttle, logger });
    await app.register(
      fudiAdminRoutes({
        clients,
        // FUDI's own tokens for its own audience, checked against its own JWKS (fetched when first needed).
        verifier: createTokenVerifier({
          issuer: config.FUDI_ISSUER,
          audience: config.FUDI_ADMIN_AUDIENCE,
          typ: ACCESS_TOKEN_TYP,
        }),
        operators: { clients: config.ADMIN_CLIENT_IDS, scope: config.ADMIN_SCOPE },
      }),
    );

    // Everything else is oidc-provider's (discovery, /auth, /token, /jwks, /me, introspection,
    // revocation, /session/end ...): handed the raw request before Fastify reads the body.
    app.route({
      method: ['GET', 'POST', 'OPTIONS', 'DELETE', 'PUT'],
      url: '/*',
      onRequest: (request, reply, done) => {
        if (OWN_PATHS.test(request.url)) return done();
        reply.hijack();
        void callback!(request.raw, reply.raw);
      },
      handler: async (request, reply) =>
        reply
          .status(404)
          .send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}` } }),
    });

    return { app, pool, clients, citizens, keys, throttle, provider: current, reloadKeys };
  });
}

/** Builds the FUDI identity provider (OIDC) as a Fastify instance; its database is migrated first. */
export async function buildApp(config: Config, logger: Logger): Promise<FastifyInstance> {
  return (await buildIdentityProvider(config, logger)).app;
}

/** What the shared entry point (`@ndx/service-kit/serve`) starts. */
export const service = defineService({ name: SERVICE_NAME, readConfig, buildApp });
