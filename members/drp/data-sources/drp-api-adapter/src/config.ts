import { z } from 'zod';
import { baseServiceConfig, configFields, loadConfig } from '@ndx/service-kit';

export const configSchema = z.object({
  ...baseServiceConfig(9090),
  /** The key NDX must send in X-API-Key to this adapter. */
  API_KEY: configFields.secret(16),
  /** The DRP legacy REST API. */
  DRP_API_URL: configFields.url().default('http://127.0.0.1:9091'),
  /** The legacy API's own key (sent as X-API-Key to DRP_API_URL). */
  DRP_API_KEY: configFields.secret(16),
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(3_000),
});

export type Config = z.infer<typeof configSchema>;

export const readConfig = (env: Record<string, string | undefined> = process.env): Config =>
  loadConfig(configSchema, env);
