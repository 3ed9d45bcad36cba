import { z } from 'zod';
import { baseServiceConfig, configFields, loadConfig } from '@ndx/service-kit';

const clientList = (defaultValue: string) =>
  z
    .string()
    .default(defaultValue)
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );

export const configSchema = z.object({
  ...baseServiceConfig(8082),
  DATABASE_URL: configFields.databaseUrl(),
  /** FUDI, whose access tokens callers present (JWKS at `${FUDI_ISSUER}/jwks` unless FUDI_JWKS_URI). */
  FUDI_ISSUER: configFields.url().default('http://127.0.0.1:9443'),
  FUDI_JWKS_URI: configFields.url().optional(),
  /** The audience (resource indicator) of tokens for the PDP. */
  PDP_AUDIENCE: z.string().min(1).default('urn:ndx:pdp'),
  /** Client ids that may ask for decisions; `*` for any client with a PDP token. */
  DECISION_CLIENT_IDS: clientList('orchestration-engine'),
  /** Client ids that may use the admin API (their token must also carry ADMIN_SCOPE). */
  ADMIN_CLIENT_IDS: clientList('ndx-operator'),
  ADMIN_SCOPE: z.string().min(1).default('admin'),
  /** Time zone of time-of-day and date in policies (Farajaland time). */
  POLICY_TIME_ZONE: z.string().min(1).default('Africa/Lusaka'),
  /** How often each process checks the active version (besides LISTEN/NOTIFY), in ms. */
  POLICY_REFRESH_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  /**
   * The lease of a change feed subscriber (an OE), in ms: an OE trusts its decision tables at most this long
   * after its last poll, and an activation waits at most this long for subscribers to drop their tables.
   */
  POLICY_FEED_LEASE_MS: z.coerce.number().int().min(200).max(60_000).default(3_000),
  /** How long the feed holds a poll when nothing changed, in ms (at most half the lease). */
  POLICY_FEED_HOLD_MS: z.coerce.number().int().min(50).max(30_000).default(1_000),
  /** Seed the Farajaland policy version when the store is empty. */
  SEED_FARAJALAND: configFields.boolean(true),
});

export type Config = z.infer<typeof configSchema>;

const checkedSchema = configSchema.refine((c) => c.POLICY_FEED_HOLD_MS * 2 <= c.POLICY_FEED_LEASE_MS, {
  message: 'must be at most half of POLICY_FEED_LEASE_MS',
  path: ['POLICY_FEED_HOLD_MS'],
});

export const readConfig = (env: Record<string, string | undefined> = process.env): Config =>
  loadConfig(checkedSchema, env);
