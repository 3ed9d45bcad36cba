import { z } from 'zod';
import { baseServiceConfig, configFields, loadConfig } from '@ndx/service-kit';

export const configSchema = z.object({
  ...baseServiceConfig(9093),
  DATABASE_URL: configFields.databaseUrl(),
  /** Base URL written into the WSDL's soap:address; by default the Host the client used. */
  PUBLIC_URL: configFields.url().optional(),
});

export type Config = z.infer<typeof configSchema>;

export const readConfig = (env: Record<string, string | undefined> = process.env): Config =>
  loadConfig(configSchema, env);
