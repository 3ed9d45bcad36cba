import { z } from 'zod';
import { baseServiceConfig, configFields, loadConfig } from '@ndx/service-kit';

export const configSchema = z.object({
  ...baseServiceConfig(9093),
  DATABASE_URL: configFields.databaseUrl(),
  /** Base URL written into the WSDL's soap:address; by default the Host the client used. */
  PUBLIC_URL: configFields.url().optional(),
  /** The WS-Security UsernameToken every SOAP request must carry (PasswordDigest): its username… */
  SOAP_USERNAME: z.string().min(1).default('ndx-dmt-adapter'),
  /** …and the shared password (in the stack `ctx.secret('dmt.soap-password')`, the adapter's too). */
  SOAP_PASSWORD: configFields.secret(16),
  /** A token whose wsu:Created is older than this is refused; its nonce is remembered this long. */
  WSS_MAX_AGE_SECONDS: z.coerce.number().int().min(10).max(3_600).default(300),
  /** A token whose wsu:Created is ahead of this service's clock by more than this is refused. */
  WSS_CLOCK_SKEW_SECONDS: z.coerce.number().int().min(0).max(600).default(60),
});

export type Config = z.infer<typeof configSchema>;

export const readConfig = (env: Record<string, string | undefined> = process.env): Config =>
  loadConfig(configSchema, env);
