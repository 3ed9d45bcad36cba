import { z } from 'zod';
import { baseServiceConfig, configFields, loadConfig } from '@ndx/service-kit';

export const configSchema = z.object({
  ...baseServiceConfig(4000),
  DATABASE_URL: configFields.databaseUrl(),
  /** Path of fl-config.json (default: the repository's). */
  FL_CONFIG_PATH: z.string().optional(),
  /** Path of the unified schema (default: ndx/schema.graphql). */
  UNIFIED_SCHEMA_PATH: z.string().optional(),
  /** This service's FUDI client (client credentials toward PDP, CE and providers that trust FUDI). */
  OE_CLIENT_ID: z.string().min(1).default('orchestration-engine'),
  OE_CLIENT_SECRET: configFields.secret(),
  /** Audience of consumer tokens. */
  NDX_API_AUDIENCE: z.string().min(1).default('urn:ndx:api'),
  PDP_AUDIENCE: z.string().min(1).default('urn:ndx:pdp'),
  CONSENT_AUDIENCE: z.string().min(1).default('urn:ndx:consent'),
  /** Where provider schemas come from at start-up: pinned files (offline) or the providers' live SDL. */
  SCHEMA_CHECK: z.enum(['pinned', 'live']).default('pinned'),
  /** Introspection (and field suggestions) on: local development only. */
  GRAPHQL_INTROSPECTION: configFields.boolean(false),
  /** Adds a Server-Timing header with per-stage timings (development). */
  SERVER_TIMING: configFields.boolean(false),
  GATE_TIMEOUT_MS: z.coerce.number().int().positive().default(3_000),
  /** How long the PDP's answer whether a client is a registered consumer is reused (ms; 0: ask every request). */
  CONSUMER_REGISTRY_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  /** Decide from the PDP's decision tables, kept current through its change feed (else: ask per request). */
  DECISION_TABLES: configFields.boolean(true),
  /** At most this many field decisions are held in decision tables (least recently used tables dropped first). */
  DECISION_TABLE_MAX_FIELDS: z.coerce.number().int().min(100).max(10_000_000).default(100_000),
  BREAKER_RESET_MS: z.coerce.number().int().positive().default(5_000),
  BREAKER_VOLUME_THRESHOLD: z.coerce.number().int().positive().default(4),
  /** This instance's audit chain (a-z, 0-9, '.', '_', '-'; one per replica). Default: a new one at every start. */
  AUDIT_CHAIN_ID: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/)
    .optional(),
});

export type Config = z.infer<typeof configSchema>;

export const readConfig = (env: Record<string, string | undefined> = process.env): Config =>
  loadConfig(configSchema, env);
