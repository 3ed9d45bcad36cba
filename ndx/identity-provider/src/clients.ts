import { randomBytes } from 'node:crypto';
import type { ClientMetadata } from 'oidc-provider';
import { z } from 'zod';
import { ConflictError, type Pool } from '@ndx/service-kit';

/**
 * OIDC scopes a web client may always ask for; everything else in `scopes` is a resource scope.
 * `roles` releases the account's `roles` claim (e.g. `["die-officer"]`; `[]` for a citizen).
 */
export const OIDC_SCOPES = ['openid', 'profile', 'roles', 'offline_access'] as const;

const grantType = z.enum(['client_credentials', 'authorization_code', 'refresh_token']);

/** One client as operators configure it (FUDI_CLIENTS holds a JSON array of these). */
export const clientSpecSchema = z
  .object({
    clientId: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,63}$/, 'lower-case letters, digits, . _ - (2-64)'),
    /** Required unless the client is public. */
    clientSecret: z.string().min(16).optional(),
    name: z.string().min(1).optional(),
    /** A public client has no secret and must use PKCE (browser or native sign-in clients). */
    public: z.boolean().default(false),
    grantTypes: z.array(grantType).min(1).optional(),
    redirectUris: z.array(z.url()).default([]),
    postLogoutRedirectUris: z.array(z.url()).default([]),
    /** Resource indicators (token audiences) the client may get tokens for. */
    resources: z.array(z.string().min(1)).default([]),
    /** Extra scopes the client may get in tokens for its resources (e.g. `admin`). */
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/)).default([]),
  })
  .superRefine((spec, ctx) => {
    if (!spec.public && !spec.clientSecret)
      ctx.addIssue({ code: 'custom', message: `${spec.clientId}: a confidential client needs clientSecret` });
    if (spec.public && spec.grantTypes?.includes('client_credentials'))
      ctx.addIssue({
        code: 'custom',
        message: `${spec.clientId}: a public client cannot use client_credentials`,
      });
    const grants = spec.grantTypes ?? defaultGrantTypes(spec);
    if (grants.includes('authorization_code') && spec.redirectUris.length === 0)
      ctx.addIssue({ code: 'custom', message: `${spec.clientId}: authorization_code needs redirectUris` });
  });

export type ClientSpec = z.infer<typeof clientSpecSchema>;
export type ClientSpecInput = z.input<typeof clientSpecSchema>;

export const clientListSchema = z.array(clientSpecSchema);

function defaultGrantTypes(spec: { public: boolean; resources: string[]; redirectUris: string[] }): string[] {
  if (spec.public) return ['authorization_code', 'refresh_token'];
  return spec.redirectUris.length > 0 && spec.resources.length === 0
    ? ['authorization_code', 'refresh_token']
    : ['client_credentials'];
}

/** The oidc-provider metadata of a client spec. */
export function toClientMetadata(spec: ClientSpec): ClientMetadata {
  const grants = spec.grantTypes ?? defaultGrantTypes(spec);
  const signsIn = grants.includes('authorization_code');
  return {
    client_id: spec.clientId,
    ...(spec.public ? {} : { client_secret: spec.clientSecret }),
    ...(spec.name ? { client_name: spec.name } : {}),
    token_endpoint_auth_method: spec.public ? 'none' : 'client_secret_basic',
    grant_types: grants,
    response_types: signsIn ? ['code'] : [],
    redirect_uris: spec.redirectUris,
    post_logout_redirect_uris: spec.postLogoutRedirectUris,
    ...(signsIn ? { scope: OIDC_SCOPES.join(' ') } : {}),
    allowed_resources: spec.resources,
    allowed_scopes: spec.scopes,
  };
}

export interface ClientSummary {
  clientId: string;
  name?: string;
  source: 'config' | 'operator';
  grantTypes: string[];
  resources: string[];
  scopes: string[];
  disabledAt?: string;
}

export interface ClientStore {
  findMetadata(clientId: string): Promise<ClientMetadata | undefined>;
  /** Replaces the clients that came from configuration with specs (removing config clients no longer listed). */
  syncFromConfig(specs: ClientSpec[]): Promise<void>;
  /** Registers a new operator-added client; a confidential one gets a generated secret, returned once. */
  addOperatorClient(
    spec: Omit<ClientSpecInput, 'clientSecret'>,
  ): Promise<{ clientId: string; clientSecret?: string }>;
  /** A new secret for an existing client, returned once. */
  resetSecret(clientId: string): Promise<string>;
  list(): Promise<ClientSummary[]>;
  /** Disables a client an operator added: it gets no more tokens. False when there is no such operator client. */
  disable(clientId: string): Promise<boolean>;
}

export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function createClientStore(pool: Pool): ClientStore {
  const upsert = (metadata: ClientMetadata, source: 'config' | 'operator') =>
    pool.query(
      `INSERT INTO clients (client_id, metadata, source) VALUES ($1, $2, $3)
       ON CONFLICT (client_id) DO UPDATE SET metadata = EXCLUDED.metadata, source = EXCLUDED.source, updated_at = now()`,
      [metadata.client_id, JSON.stringify(metadata), source],
    );
  return {
    async findMetadata(clientId) {
      const { rows } = await pool.query<{ metadata: ClientMetadata }>(
        'SELECT metadata FROM clients WHERE client_id = $1 AND disabled_at IS NULL',
        [clientId],
      );
      return rows[0]?.metadata;
    },
    async syncFromConfig(specs) {
      for (const spec of specs) await upsert(toClientMetadata(spec), 'config');
      await pool.query(`DELETE FROM clients WHERE source = 'config' AND NOT (client_id = ANY($1::text[]))`, [
        specs.map((s) => s.clientId),
      ]);
    },
    async addOperatorClient(input) {
      const clientSecret = input.public ? undefined : generateClientSecret();
      const spec = clientSpecSchema.parse({ ...input, clientSecret });
      const existing = await pool.query('SELECT 1 FROM clients WHERE client_id = $1', [spec.clientId]);
      if ((existing.rowCount ?? 0) > 0) throw new ConflictError(`client ${spec.clientId} already exists`);
      await upsert(toClientMetadata(spec), 'operator');
      return clientSecret ? { clientId: spec.clientId, clientSecret } : { clientId: spec.clientId };
    },
    async resetSecret(clientId) {
      const secret = generateClientSecret();
      const result = await pool.query(
        `UPDATE clients SET metadata = jsonb_set(metadata, '{client_secret}', to_jsonb($2::text)), updated_at = now()
         WHERE client_id = $1 AND metadata->>'token_endpoint_auth_method' <> 'none'`,
        [clientId, secret],
      );
      if ((result.rowCount ?? 0) === 0) throw new Error(`no confidential client ${clientId}`);
      return secret;
    },
    async list() {
      const { rows } = await pool.query<{
        client_id: string;
        source: 'config' | 'operator';
        metadata: ClientMetadata;
        disabled_at: Date | null;
      }>('SELECT client_id, source, metadata, disabled_at FROM clients ORDER BY client_id');
      return rows.map((r) => ({
        clientId: r.client_id,
        ...(typeof r.metadata.client_name === 'string' ? { name: r.metadata.client_name } : {}),
        source: r.source,
        grantTypes: [...(r.metadata.grant_types ?? [])],
        resources: (r.metadata.allowed_resources as string[] | undefined) ?? [],
        scopes: (r.metadata.allowed_scopes as string[] | undefined) ?? [],
        ...(r.disabled_at ? { disabledAt: r.disabled_at.toISOString() } : {}),
      }));
    },
    async disable(clientId) {
      const result = await pool.query(
        `UPDATE clients SET disabled_at = coalesce(disabled_at, now()), updated_at = now()
          WHERE client_id = $1 AND source = 'operator'`,
        [clientId],
      );
      return (result.rowCount ?? 0) > 0;
    },
  };
}
