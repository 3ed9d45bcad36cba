import type { Pool } from '@ndx/service-kit';
import { hashToken, randomToken } from './sessions.ts';

export interface RedeemedState {
  applicationId: string;
  consentId: string;
}

/**
 * The OAuth-style `state` the app hands to the consent portal with its `redirect_uri` (and gets back on
 * the return): random, stored only as a hash, bound to the browser session and the application, and
 * single-use. (Stored in the table `consent_states`.) Redeeming marks it used in the same
 * statement, so a replay (or two racing returns) finds nothing.
 */
export class OAuthStateStore {
  readonly #pool: Pool;
  readonly #now: () => Date;
  readonly #ttlSeconds: number;

  constructor(pool: Pool, now: () => Date, ttlSeconds: number) {
    this.#pool = pool;
    this.#now = now;
    this.#ttlSeconds = ttlSeconds;
  }

  async issue(sessionHash: string, applicationId: string, consentId: string): Promise<string> {
    const state = randomToken();
    const now = this.#now();
    await this.#pool.query(
      `INSERT INTO consent_states (state_hash, session_hash, application_id, consent_id, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        hashToken(state),
        sessionHash,
        applicationId,
        consentId,
        now,
        new Date(now.getTime() + this.#ttlSeconds * 1000),
      ],
    );
    return state;
  }

  /**
   * Uses up a state. Undefined when it is unknown (tampered), already used (replayed), expired, or
   * was issued to another session; the caller cannot tell which, and neither can an attacker.
   */
  async redeem(
    state: string | undefined,
    sessionHash: string | undefined,
  ): Promise<RedeemedState | undefined> {
    if (!state || !sessionHash || state.length > 100) return undefined;
    const { rows } = await this.#pool.query<{ application_id: string; consent_id: string }>(
      `UPDATE consent_states SET used_at = $3
        WHERE state_hash = $1 AND session_hash = $2 AND used_at IS NULL AND expires_at > $3
        RETURNING application_id, consent_id`,
      [hashToken(state), sessionHash, this.#now()],
    );
    const row = rows[0];
    return row ? { applicationId: row.application_id, consentId: row.consent_id } : undefined;
  }

  async deleteExpired(): Promise<number> {
    const result = await this.#pool.query('DELETE FROM consent_states WHERE expires_at <= $1', [this.#now()]);
    return result.rowCount ?? 0;
  }
}
