import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

export interface ListenOptions {
  port: number;
  host: string;
  /** How long in-flight requests may take to finish after a stop signal. */
  shutdownGraceMs?: number;
}

/**
 * Listens, and on SIGTERM/SIGINT stops accepting, lets in-flight requests finish, runs the
 * instance's onClose hooks (pools) and exits. A port already in use is a clear one-line error.
 */
export async function listenUntilStopped(
  app: FastifyInstance,
  logger: Logger,
  options: ListenOptions,
): Promise<string> {
  let address: string;
  try {
    address = await app.listen({ port: options.port, host: options.host });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      logger.fatal({ port: options.port }, `${app.serviceName}: port ${options.port} is already in use`);
      console.error(`${app.serviceName}: port ${options.port} on ${options.host} is already in use`);
    } else {
      logger.fatal({ err }, `${app.serviceName}: could not listen`);
    }
    process.exit(1);
  }
  logger.info({ address }, `${app.serviceName} listening`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, `${app.serviceName} stopping`);
    const force = setTimeout(() => {
      logger.error('shutdown grace period over, exiting with requests still open');
      process.exit(1);
    }, options.shutdownGraceMs ?? 10_000);
    force.unref();
    app.close().then(
      () => {
        logger.info(`${app.serviceName} stopped`);
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return address;
}

/** Runs main and turns a start-up failure (bad config, unreachable database) into one clear line and exit 1. */
export function runMain(service: string, main: () => Promise<unknown>): void {
  main().catch((err: unknown) => {
    console.error(`${service}: failed to start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
