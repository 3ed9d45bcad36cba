import { z } from 'zod';
import { baseServiceConfig, configFields, loadConfig } from '@ndx/service-kit';

const origin = () =>
  configFields.url().transform((value, ctx) => {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL' });
      return z.NEVER;
    }
    return url.origin;
  });

export const configSchema = z.object({
  ...baseServiceConfig(3000),
  DATABASE_URL: configFields.databaseUrl(),
  /**
   * FUDI: where the app's server gets its client-credentials token (`${FUDI_ISSUER}/token`) and where
   * applicants and officers sign in (authorization code + PKCE, back at `${PASSPORT_APP_PUBLIC_URL}/auth/callback`).
   */
  FUDI_ISSUER: configFields.url().default('http://127.0.0.1:9443'),
  PASSPORT_APP_CLIENT_ID: z.string().min(1).default('passport-app'),
  /** The FUDI client secret of the passport app (a confidential client); only the server ever holds it. */
  PASSPORT_APP_CLIENT_SECRET: configFields.secret(16),
  /** The FUDI role (in the ID token's `roles` claim) that makes a signed-in person a DIE officer. */
  PASSPORT_APP_OFFICER_ROLE: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/, 'a FUDI role name')
    .default('die-officer'),
  /** Base URL of the NDX API; the app posts to `${NDX_API_URL}/graphql`. */
  NDX_API_URL: configFields.url().default('http://127.0.0.1:4000'),
  /** Resource indicator (token audience) of the NDX API. */
  NDX_API_RESOURCE: z.string().min(1).default('urn:ndx:api'),
  /** Sent as the NDX-Purpose header. */
  NDX_PURPOSE: z.string().min(1).default('passport-application'),
  NDX_API_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /**
   * Where browsers reach this app; the consent return address is `${PASSPORT_APP_PUBLIC_URL}/consent/return`,
   * the sign-in return `${PASSPORT_APP_PUBLIC_URL}/auth/callback`.
   */
  PASSPORT_APP_PUBLIC_URL: origin().default('http://127.0.0.1:3000'),
  /** Origin of the NDX consent portal; the app only ever sends browsers to portal URLs on this origin. */
  CONSENT_PORTAL_URL: origin().default('http://127.0.0.1:8081'),
  /** Signs the session cookie; a comma-separated list rotates (the first signs, all verify). */
  PASSPORT_APP_COOKIE_SECRET: configFields.secret(32),
  /** How long a session lasts, signed in or not (a sign-in is asked for again after it). */
  PASSPORT_APP_SESSION_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(8 * 3600),
  /** How long a consent `state` stays redeemable (the portal's pending requests last an hour). */
  PASSPORT_APP_STATE_TTL_SECONDS: z.coerce.number().int().min(30).default(3600),
});

export type Config = z.infer<typeof configSchema>;

export const readConfig = (env: Record<string, string | undefined> = process.env): Config =>
  loadConfig(configSchema, env);
