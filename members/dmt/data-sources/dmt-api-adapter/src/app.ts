import type { FastifyInstance } from 'fastify';
import { createHttpService, type Logger } from '@ndx/service-kit';
import type { Config } from './config.ts';

export const SERVICE_NAME = 'dmt-api-adapter';

/** Builds the DMT adapter (GraphQL to SOAP) as a Fastify instance. */
export async function buildApp(_config: Config, logger: Logger): Promise<FastifyInstance> {
  return createHttpService({ name: SERVICE_NAME, logger });
}
