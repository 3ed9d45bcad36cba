import type { Logger, Pool } from '@ndx/service-kit';
import type { NonceStore } from './ws-security.ts';

/** How often expired nonces are deleted (at most; on the next request after this much time). */
const PRUNE_EVERY_MS = 60_000;

/**
 * The seen WS-Security nonces in the dmt database (table wsse_nonces), shared by every instance.
 * A nonce is new when it has no row or only an expired one; rows past their expiry are deleted at
 * most once a minute, so the table holds about one window's worth of requests.
 */
export function databaseNonceStore(pool: Pool, logger: Logger): NonceStore {
  let lastPrune = 0;
  return {
    async remember(nonce, expiresAt, now) {
      if (now.getTime() - lastPrune >= PRUNE_EVERY_MS) {
        lastPrune = now.getTime();
        const { rowCount } = await pool.query('DELETE FROM wsse_nonces WHERE expires_at < $1', [now]);
        if (rowCount) logger.debug({ pruned: rowCount }, 'expired WS-Security nonces deleted');
      }
      const { rowCount } = await pool.query({
        name: 'dmt-remember-nonce',
        text: `INSERT INTO wsse_nonces (nonce, expires_at) VALUES ($1, $2)
           ON CONFLICT (nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at
           WHERE wsse_nonces.expires_at < $3`,
        values: [nonce, expiresAt, now],
      });
      return rowCount === 1;
    },
  };
}
