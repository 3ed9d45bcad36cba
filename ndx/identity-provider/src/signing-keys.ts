import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Pool } from '@ndx/service-kit';

const generate = promisify(generateKeyPair);

/** How long a retired key stays published: longer than any token it signed lives (ID/access tokens). */
export const RETIRED_KEY_RETENTION_SECONDS = 24 * 60 * 60;

/**
 * How long a new key is published before it signs: longer than verifiers cache FUDI's JWKS (the kit's
 * verifier keeps it 10 minutes), so no verifier meets a token signed by a key it has not seen.
 */
export const KEY_PUBLISH_SECONDS = 15 * 60;

export interface SigningKeyInfo {
  kid: string;
  createdAt: Date;
  activatesAt: Date;
  retiredAt: Date | null;
}

export interface SigningKeyStore {
  /** Generates and stores a first key when there is no active one (first run). */
  ensureActiveKey(): Promise<void>;
  /**
   * A new key, published at once and signing after publishSeconds; the current key signs until then and
   * stays published for the retention period after.
   */
  rotate(publishSeconds?: number): Promise<{ kid: string; activatesAt: Date }>;
  /** The private JWKs to publish, the one that signs now first; then keys not yet signing, and retired ones still kept. */
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
    async rotate(publishSeconds = KEY_PUBLISH_SECONDS) {
      const jwk = await newSigningKey();
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const { rows } = await client.query<{ at: Date }>(`SELECT now() + make_interval(secs => $1) AS at`, [
          publishSeconds,
        ]);
        const activatesAt = rows[0]!.at;
        await client.query('UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL', [activatesAt]);
        await client.query('INSERT INTO signing_keys (kid, private_jwk, activates_at) VALUES ($1, $2, $3)', [
          jwk.kid,
          JSON.stringify(jwk),
          activatesAt,
        ]);
        await client.query('COMMIT');
        return { kid: jwk.kid!, activatesAt };
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async currentKeys() {
      const { rows } = await pool.query<{ private_jwk: JWK }>(
        `SELECT private_jwk FROM signing_keys
         WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
         ORDER BY (activates_at <= now()) DESC, activates_at DESC`,
        [retentionSeconds],
      );
      return rows.map((r) => r.private_jwk);
    },
    async list() {
      const { rows } = await pool.query<{
        kid: string;
        created_at: Date;
        activates_at: Date;
        retired_at: Date | null;
      }>('SELECT kid, created_at, activates_at, retired_at FROM signing_keys ORDER BY activates_at DESC');
      return rows.map((r) => ({
        kid: r.kid,
        createdAt: r.created_at,
        activatesAt: r.activates_at,
        retiredAt: r.retired_at,
      }));
    },
  };
}
