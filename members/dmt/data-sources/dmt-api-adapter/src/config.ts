import { z } from 'zod';
import { baseServiceConfig, configFields, loadConfig } from '@ndx/service-kit';

export const configSchema = z.object({
  ...baseServiceConfig(9092),
  /** FUDI's issuer, exactly as in its tokens; JWKS at `${FUDI_ISSUER}/jwks` unless FUDI_JWKS_URI. */
  FUDI_ISSUER: configFields.url().default('http://127.0.0.1:9443'),
  FUDI_JWKS_URI: configFields.url().optional(),
  /** The audience (resource indicator) a token must carry to call this adapter. */
  FUDI_AUDIENCE: z.string().min(1).default('urn:dmt:vehicles'),
  /** Comma-separated client_ids allowed in; empty lets any client with a token for the audience in. */
  ALLOWED_CLIENT_IDS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  /** The DMT legacy SOAP endpoint; its WSDL is at `${DMT_SOAP_URL}?wsdl`. */
  DMT_SOAP_URL: configFields.url().default('http://127.0.0.1:9093/vehicles'),
  /** The WS-Security UsernameToken (PasswordDigest) sent on every SOAP call: username… */
  DMT_SOAP_USERNAME: z.string().min(1).default('ndx-dmt-adapter'),
  /** …and password (in the stack `ctx.secret('dmt.soap-password')`, the SOAP service's SOAP_PASSWORD). */
  DMT_SOAP_PASSWORD: configFields.secret(16),
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(3_000),
});

export type Config = z.infer<typeof configSchema>;

export const readConfig = (env: Record<string, string | undefined> = process.env): Config =>
  loadConfig(configSchema, env);
