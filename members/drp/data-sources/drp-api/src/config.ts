import { z } from 'zod';
import { baseServiceConfig, configFields, loadConfig } from '@ndx/service-kit';

export const configSchema = z.object({
  ...baseServiceConfig(9091),
  DATABASE_URL: configFields.databaseUrl(),
  /** The key clients must send in X-API-Key (the DRP adapter's legacy key). */
  API_KEY: configFields.secret(16),
});

export type Config = z.infer<typeof configSchema>;

export const readConfig = (env: Record<string, string | undefined> = process.env): Config =>
  loadConfig(configSchema, env);
