import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Pool } from '@ndx/service-kit';

const generate = promisify(generateKeyPair);

/** How long a retired key stays published: longer than any token it signed lives (ID/access tokens). */
export const RETIRED_KEY_RETENTION_SECONDS = 24 * 60 * 60;

export interface SigningKeyInfo {
  kid: string;
  createdAt: Date;
  retiredAt: Date | null;
}

export interface SigningKeyStore {
  /** Generates and stores a first key when there is no active one (first run). */
  ensureActiveKey(): Promise<void>;
  /** A new active key; the previous ones are retired but stay in the JWKS for the retention period. */
  rotate(): Promise<string>;
  /** The private JWKs to sign and publish with: the active key first, then retired ones still kept. */
  currentKeys(): Promise<JWK[]>;
  list(): Promise<SigningKeyInfo[]>;
}

async function newSigningKey(): Promise<JWK> {
  const { privateKey } = await generate('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint({ kty: jwk.kty!, n: jwk.n!, e: jwk.e! });
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

export function createSigningKeyStore(
  pool: Pool,
  retentionSeconds = RETIRED_KEY_RETENTION_SECONDS,
): SigningKeyStore {
  const insert = async (jwk: JWK) => {
    await pool.query('INSERT INTO signing_keys (kid, private_jwk) VALUES ($1, $2)', [
      jwk.kid,
      JSON.stringify(jwk),
    ]);
    return jwk.kid!;
  };
  return {
    async ensureActiveKey() {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('LOCK TABLE signing_keys IN EXCLUSIVE MODE');
        const { rowCount } = await client.query('SELECT 1 FROM signing_keys WHERE retired_at IS NULL');
        if (!rowCount) {
          const jwk = await newSigningKey();
          await client.query('INSERT INTO signing_keys (kid, private_jwk) VALUES ($1, $2)', [
            jwk.kid,
            JSON.stringify(jwk),
          ]);
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async rotate() {
      const jwk = await newSigningKey();
      await pool.query('UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL');
      return insert(jwk);
    },
    async currentKeys() {
      const { rows } = await pool.query<{ private_jwk: JWK }>(
        `SELECT private_jwk FROM signing_keys
         WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
         ORDER BY (retired_at IS NULL) DESC, created_at DESC`,
        [retentionSeconds],
      );
      return rows.map((r) => r.private_jwk);
    },
    async list() {
      const { rows } = await pool.query<{ kid: string; created_at: Date; retired_at: Date | null }>(
        'SELECT kid, created_at, retired_at FROM signing_keys ORDER BY created_at DESC',
      );
      return rows.map((r) => ({ kid: r.kid, createdAt: r.created_at, retiredAt: r.retired_at }));
    },
  };
}
