import { z } from 'zod';
import { baseServiceConfig, configFields, loadConfig } from '@ndx/service-kit';

/** A consumer app the CE knows: shown to citizens, and the only places it may send them back to. */
const consumerSchema = z.object({
  displayName: z.string().min(1),
  agency: z.string().min(1),
  redirectUris: z.array(z.url()).default([]),
});

const purposeSchema = z.object({
  text: z.string().min(1),
  legalBasis: z.string().min(1).default('consent'),
  /** How long a granted consent lasts, in days, unless a consumer+purpose override says otherwise. */
  durationDays: z.number().positive().default(30),
});

const durationSchema = z.object({
  consumerId: z.string().min(1),
  purpose: z.string().min(1),
  durationDays: z.number().positive(),
});

export type ConsumerInfo = z.infer<typeof consumerSchema>;
export { consumerSchema, purposeSchema };
export type PurposeInfo = z.infer<typeof purposeSchema>;

export const defaultConsumers: Record<string, ConsumerInfo> = {
  'passport-app': {
    displayName: 'DIE Passport application',
    agency: 'Department of Immigration and Emigration',
    redirectUris: ['http://127.0.0.1:3000/consent/return'],
  },
  'traffic-police-app': {
    displayName: 'DMT Traffic police',
    agency: 'Department of Motor Traffic',
    redirectUris: [],
  },
};

export const defaultPurposes: Record<string, PurposeInfo> = {
  'passport-application': {
    text: 'To check your identity and civil details for your passport application',
    legalBasis: 'consent',
    durationDays: 30,
  },
  'traffic-enforcement': {
    text: 'To enforce traffic law (vehicle ownership checks)',
    legalBasis: 'legal-obligation',
    durationDays: 30,
  },
};

/** Agency names shown for each provider key when fields are grouped by agency. */
export const defaultProviders: Record<string, string> = {
  rgd: "Registrar General's Department (births)",
  drp: 'Department for Registration of Persons',
  dmt: 'Department of Motor Traffic',
};

const json = <S extends z.ZodType>(schema: S, fallback: z.infer<S>) =>
  z
    .string()
    .optional()
    .transform((raw, ctx): z.infer<S> => {
      if (raw === undefined || raw.trim() === '') return fallback;
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON' });
        return z.NEVER;
      }
      const result = schema.safeParse(parsed);
      if (!result.success) {
        ctx.addIssue({
          code: 'custom',
          message: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        });
        return z.NEVER;
      }
      return result.data;
    });

const list = (fallback: string[]) =>
  z
    .string()
    .optional()
    .transform((raw) =>
      raw === undefined || raw.trim() === ''
        ? fallback
        : raw
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
    );

export const configSchema = z.object({
  ...baseServiceConfig(8081),
  DATABASE_URL: configFields.databaseUrl(),
  /** FUDI's issuer; JWKS at `${FUDI_ISSUER}/jwks`. */
  FUDI_ISSUER: configFields.url().default('http://127.0.0.1:9443'),
  /** Audience of tokens the CE accepts. */
  CONSENT_AUDIENCE: z.string().min(1).default('urn:ndx:consent'),
  /** Client ids allowed to use the internal API with a client-credentials token. */
  CONSENT_SERVICE_CLIENTS: list(['orchestration-engine', 'ndx-operator']),
  /** Client ids that may use the admin API (their token must also carry ADMIN_SCOPE). */
  ADMIN_CLIENT_IDS: list(['ndx-operator']),
  ADMIN_SCOPE: z.string().min(1).default('admin'),
  /** Client ids whose user tokens (sub = NIC) may use the citizen API. */
  CONSENT_CITIZEN_CLIENTS: list(['consent-portal']),
  /** Public base URL of this service (portal links, OIDC redirect URI). */
  CONSENT_PORTAL_PUBLIC_URL: configFields.url().default('http://127.0.0.1:8081'),
  CONSENT_PORTAL_CLIENT_ID: z.string().min(1).default('consent-portal'),
  /** Unset = public client (PKCE only). */
  CONSENT_PORTAL_CLIENT_SECRET: z.string().min(1).optional(),
  CONSENT_PORTAL_CLIENT_AUTH: z
    .enum(['client_secret_basic', 'client_secret_post'])
    .default('client_secret_basic'),
  /** JSON {clientId: {displayName, agency, redirectUris[]}}. */
  CONSENT_CONSUMERS: json(z.record(z.string(), consumerSchema), defaultConsumers),
  /** How often each instance reloads the consumers and purposes operators registered (admin API), ms. */
  CONSENT_REGISTRATIONS_REFRESH_MS: z.coerce.number().int().min(100).default(5_000),
  /** JSON {purposeCode: {text, legalBasis, durationDays}}. */
  CONSENT_PURPOSES: json(z.record(z.string(), purposeSchema), defaultPurposes),
  /** JSON [{consumerId, purpose, durationDays}]: overrides the purpose's duration for one consumer. */
  CONSENT_DURATIONS: json(z.array(durationSchema), []),
  /** JSON {providerKey: agency name}. */
  CONSENT_PROVIDERS: json(z.record(z.string(), z.string().min(1)), defaultProviders),
  /** How long a pending request stays open. */
  CONSENT_PENDING_TTL_SECONDS: z.coerce.number().int().positive().default(3600),
  /** How often expired consents are marked EXPIRED (0 = never; check time still enforces expiry). */
  CONSENT_SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(0).default(60),
  /** Version of the consent notice text the portal shows; recorded with each decision. */
  CONSENT_NOTICE_VERSION: z.string().min(1).default('2026-01'),
  CONSENT_SESSION_TTL_SECONDS: z.coerce.number().int().positive().default(1800),
  /** The audit database (ndx_audit), read only for the citizen's access log; unset = the log shows as unavailable. */
  AUDIT_DATABASE_URL: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v))
    .pipe(configFields.databaseUrl().optional()),
  /** Accesses per page of the access log (/consent/mine/access). */
  ACCESS_LOG_PAGE_SIZE: z.coerce.number().int().min(1).max(100).default(20),
});

export type Config = z.infer<typeof configSchema>;

export const readConfig = (env: Record<string, string | undefined> = process.env): Config =>
  loadConfig(configSchema, env);
