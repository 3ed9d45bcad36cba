import type { Pool } from '@ndx/service-kit';
import { hashClientSecret, verifyClientSecret } from './client-secrets.ts';

export interface OAuthClient {
  clientId: string;
  scopes: string[];
}

/** Registers a client, or updates its secret and scopes when they changed; the secret is stored hashed. */
export async function registerClient(
  pool: Pool,
  clientId: string,
  secret: string,
  scopes: string[],
): Promise<void> {
  const { rows } = await pool.query<{ secret_hash: string; scopes: string[] }>(
    'SELECT secret_hash, scopes FROM oauth_clients WHERE client_id = $1',
    [clientId],
  );
  const existing = rows[0];
  if (
    existing &&
    sameScopes(existing.scopes, scopes) &&
    (await verifyClientSecret(secret, existing.secret_hash))
  ) {
    return;
  }
  await pool.query(
    `INSERT INTO oauth_clients (client_id, secret_hash, scopes) VALUES ($1, $2, $3)
     ON CONFLICT (client_id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, scopes = EXCLUDED.scopes, updated_at = now()`,
    [clientId, await hashClientSecret(secret), scopes],
  );
}

/** The client when id and secret match a registered client, otherwise null. */
export async function authenticateClient(
  pool: Pool,
  clientId: string,
  secret: string,
): Promise<OAuthClient | null> {
  const { rows } = await pool.query<{ secret_hash: string; scopes: string[] }>(
    'SELECT secret_hash, scopes FROM oauth_clients WHERE client_id = $1',
    [clientId],
  );
  const row = rows[0];
  if (!row || !(await verifyClientSecret(secret, row.secret_hash))) return null;
  return { clientId, scopes: row.scopes };
}

function sameScopes(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join(' ') === [...b].sort().join(' ');
}
