import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { defineService, withServiceDatabase, type Logger } from '@ndx/service-kit';
import { readConfig, type Config } from './config.ts';
import { databaseNonceStore } from './nonce-store.ts';
import { registerSoapEndpoint } from './soap-endpoint.ts';
import { vehicleRegistry } from './vehicle-registry.ts';
import { usernameTokenCheck } from './ws-security.ts';

export const SERVICE_NAME = 'dmt-soap-api';
export const migrationsDir = join(import.meta.dirname, '..', 'migrations');

/**
 * Builds the DMT vehicle registry (legacy SOAP) as a Fastify instance; its database is migrated first.
 * Every SOAP request needs a WS-Security UsernameToken (PasswordDigest) for SOAP_USERNAME/SOAP_PASSWORD.
 */
export async function buildApp(config: Config, logger: Logger): Promise<FastifyInstance> {
  const database = { name: SERVICE_NAME, logger, databaseUrl: config.DATABASE_URL, migrationsDir };
  return withServiceDatabase(database, async ({ pool, httpService }) => {
    const app = httpService();
    const authenticate = usernameTokenCheck({
      username: config.SOAP_USERNAME,
      password: config.SOAP_PASSWORD,
      maxAgeMs: config.WSS_MAX_AGE_SECONDS * 1000,
      clockSkewMs: config.WSS_CLOCK_SKEW_SECONDS * 1000,
      nonces: databaseNonceStore(pool, logger),
    });
    await registerSoapEndpoint(app, vehicleRegistry(pool), logger, config.PUBLIC_URL, authenticate);
    return app;
  });
}

/** What the shared entry point (`@ndx/service-kit/serve`) starts. */
export const service = defineService({ name: SERVICE_NAME, readConfig, buildApp });
