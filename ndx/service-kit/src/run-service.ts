import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createLogger } from './logger.ts';
import { listenUntilStopped } from './lifecycle.ts';

type Env = Record<string, string | undefined>;

/** What every service's config has (baseServiceConfig). */
export interface ServiceBaseConfig {
  PORT: number;
  HOST: string;
  LOG_LEVEL: string;
}

/** A service as the shared entry point (serve.ts) starts it; each service's app.ts exports one as `service`. */
export interface ServiceModule<C extends ServiceBaseConfig> {
  /** Its name in logs, metrics and docs (its folder name). */
  name: string;
  readConfig: (env?: Env) => C;
  buildApp: (config: C, logger: Logger) => Promise<FastifyInstance>;
}

/** Declares a service for the shared entry point (typed: buildApp takes what readConfig returns). */
export function defineService<C extends ServiceBaseConfig>(service: ServiceModule<C>): ServiceModule<C> {
  return service;
}

/**
 * Reads the service's config from the environment, builds it and listens; on SIGTERM/SIGINT it stops
 * gracefully. Rejects when the service cannot start (bad config, unreachable database).
 */
export async function startService<C extends ServiceBaseConfig>(
  service: ServiceModule<C>,
  env: Env = process.env,
): Promise<void> {
  const config = service.readConfig(env);
  const logger = createLogger(service.name, { level: config.LOG_LEVEL });
  const app = await service.buildApp(config, logger);
  await listenUntilStopped(app, logger, { port: config.PORT, host: config.HOST });
}
