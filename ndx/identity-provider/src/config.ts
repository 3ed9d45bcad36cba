import { z } from 'zod';
import { IDENTITY_ADMIN_AUDIENCE } from '@ndx/contract';
import { baseServiceConfig, configFields, loadConfig } from '@ndx/service-kit';
import { ROLE_PATTERN } from './citizens.ts';
import { clientListSchema } from './clients.ts';

/** An environment variable holding a JSON array, parsed by listSchema. */
const jsonArray = <S extends z.ZodType>(listSchema: S, what: string) =>
  z
    .string()
    .default('[]')
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: `must be a JSON array of ${what}` });
        return z.NEVER;
      }
    })
    .pipe(listSchema);

/** A citizen account created at start when missing (the stack passes its demo citizens). */
const seedAccountSchema = z.object({
  nic: z.string().min(1),
  name: z.string().min(1),
  password: z.string().min(1),
  totpSecret: z.string().min(1).optional(),
  /** Roles of the account, released in the `roles` claim (e.g. `["die-officer"]` for a DIE officer). */
  roles: z
    .array(z.string().regex(ROLE_PATTERN, 'a role is a-z, 0-9 and -, starting with a letter'))
    .max(16)
    .optional(),
});

export const configSchema = z.object({
  ...baseServiceConfig(9443),
  DATABASE_URL: configFields.databaseUrl(),
  /** The issuer exactly as clients see it (no trailing slash); JWKS at `${FUDI_ISSUER}/jwks`. */
  FUDI_ISSUER: configFields
    .url()
    .default('http://127.0.0.1:9443')
    .refine((url) => !url.endsWith('/'), 'must not end with a slash'),
  /** Signs FUDI's cookies (sessions, interactions). Comma-separated to rotate: the first signs, all verify. */
  FUDI_COOKIE_SECRET: configFields.secret(32),
  /** JSON array of clients registered (and updated) on start; see docs/identity-provider.md. */
  FUDI_CLIENTS: jsonArray(clientListSchema, 'clients'),
  /**
   * JSON array of accounts ({nic, name, password, totpSecret?, roles?}) created on start when missing;
   * the local stack passes its demo citizens and demo officers here (docs/demo-citizens.md).
   */
  FUDI_SEED_ACCOUNTS: jsonArray(z.array(seedAccountSchema), 'accounts'),
  FUDI_ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86_400).default(600),
  FUDI_REFRESH_TOKEN_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(14 * 24 * 3600),
  /** How often a running FUDI looks for rotated signing keys (0 = only at start). */
  FUDI_KEY_REFRESH_SECONDS: z.coerce.number().int().min(0).default(60),
  /** Failed sign-ins per NIC within FUDI_LOCKOUT_WINDOW_SECONDS that lock the NIC. */
  FUDI_LOCKOUT_MAX_FAILURES: z.coerce.number().int().min(1).default(5),
  FUDI_LOCKOUT_WINDOW_SECONDS: z.coerce.number().int().min(1).default(900),
  /** The audience of FUDI tokens for FUDI's own operator API (/admin/v1). */
  FUDI_ADMIN_AUDIENCE: z.string().min(1).default(IDENTITY_ADMIN_AUDIENCE),
  /** Client ids that may use the operator API (their token must also carry ADMIN_SCOPE). */
  ADMIN_CLIENT_IDS: z
    .string()
    .default('ndx-operator')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ADMIN_SCOPE: z.string().min(1).default('admin'),
});

export type Config = z.infer<typeof configSchema>;

export const readConfig = (env: Record<string, string | undefined> = process.env): Config =>
  loadConfig(configSchema, env);
