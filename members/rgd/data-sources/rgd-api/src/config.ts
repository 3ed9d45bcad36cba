import { z } from 'zod';
import { baseServiceConfig, configFields, loadConfig } from '@ndx/service-kit';

export const configSchema = z.object({
  ...baseServiceConfig(8080),
  DATABASE_URL: configFields.databaseUrl(),
  /** Secret of the `ndx` OAuth2 client (NDX's orchestration engine); stored only hashed. */
  RGD_NDX_CLIENT_SECRET: configFields.secret(16),
  /** `iss` of the access tokens RGD issues. */
  RGD_ISSUER: configFields.url().default('http://127.0.0.1:8080'),
  /** Lifetime of access tokens (`expires_in`). */
  RGD_TOKEN_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(3_600),
});

export type Config = z.infer<typeof configSchema>;

export const readConfig = (env: Record<string, string | undefined> = process.env): Config =>
  loadConfig(configSchema, env);
