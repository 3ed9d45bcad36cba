import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { apiKeyAuth, createAdapter, nicRule, restField, restSource } from '@ndx/adapter-kit';
import { defineService, type Logger } from '@ndx/service-kit';
import { readConfig, type Config } from './config.ts';
import { SCHEMA_ID, sdl } from './schema.ts';

export const SERVICE_NAME = 'drp-api-adapter';

/** GET /person/{nic} of the DRP legacy API, in its own snake_case shape. */
const legacyPerson = z.object({
  nic: z.string(),
  full_name: z.string(),
  other_names: z.string().nullable(),
  permanent_address: z.string(),
  profession: z.string().nullable(),
});

/** Builds the DRP adapter: GraphQL `person(nic)` answered by the legacy REST API. */
export async function buildApp(config: Config, logger: Logger): Promise<FastifyInstance> {
  const drp = restSource({
    name: 'drp-api',
    baseUrl: config.DRP_API_URL,
    headers: { 'x-api-key': config.DRP_API_KEY },
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
  });
  return createAdapter({
    name: SERVICE_NAME,
    schemaId: SCHEMA_ID,
    sdl,
    logger,
    auth: apiKeyAuth({ header: 'x-api-key', keys: [config.API_KEY] }),
    sources: [drp],
    query: {
      person: {
        arguments: { nic: nicRule },
        fetch: restField(drp, {
          path: '/person/{nic}',
          response: legacyPerson,
          map: (p) => ({
            nic: p.nic,
            fullName: p.full_name,
            otherNames: p.other_names,
            permanentAddress: p.permanent_address,
            profession: p.profession,
          }),
        }),
      },
    },
  });
}

/** What the shared entry point (`@ndx/service-kit/serve`) starts. */
export const service = defineService({ name: SERVICE_NAME, readConfig, buildApp });
