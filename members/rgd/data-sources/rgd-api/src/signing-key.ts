import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';
import { withTransaction, type Logger, type Pool } from '@ndx/service-kit';

export const SIGNING_ALG = 'ES256';
// Serialises key creation when several instances start on an empty database at once.
const KEY_LOCK_ID = 7_316_101;

export interface SigningKey {
  kid: string;
  alg: typeof SIGNING_ALG;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public key as published at /oauth2/jwks. */
  publicJwk: JWK;
}

/** The token signing key from the database; generated and stored on first start, so it survives restarts. */
export async function loadOrCreateSigningKey(pool: Pool, logger: Logger): Promise<SigningKey> {
  const stored = await withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [KEY_LOCK_ID]);
    const { rows } = await client.query<{ kid: string; private_jwk: JWK; public_jwk: JWK }>(
      'SELECT kid, private_jwk, public_jwk FROM signing_keys WHERE alg = $1 ORDER BY created_at DESC LIMIT 1',
      [SIGNING_ALG],
    );
    if (rows[0]) return rows[0];
    const pair = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const privateJwk = await exportJWK(pair.privateKey);
    const publicJwk = await exportJWK(pair.publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    await client.query(
      'INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk) VALUES ($1, $2, $3, $4)',
      [kid, SIGNING_ALG, privateJwk, publicJwk],
    );
    logger.info({ kid }, 'generated a new token signing key');
    return { kid, private_jwk: privateJwk, public_jwk: publicJwk };
  });
  return {
    kid: stored.kid,
    alg: SIGNING_ALG,
    privateKey: (await importJWK(stored.private_jwk, SIGNING_ALG)) as CryptoKey,
    publicKey: (await importJWK(stored.public_jwk, SIGNING_ALG)) as CryptoKey,
    publicJwk: { ...stored.public_jwk, kid: stored.kid, alg: SIGNING_ALG, use: 'sig' },
  };
}
