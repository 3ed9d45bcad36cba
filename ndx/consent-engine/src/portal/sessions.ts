import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool } from '@ndx/service-kit';
import type { Clock } from '../clock.ts';

/** A sign-in in progress: the PKCE verifier, OIDC state and nonce, and the page to return to. */
export interface PendingLogin {
  codeVerifier: string;
  state: string;
  nonce: string;
  returnTo: string;
}

export interface PortalSession {
  /** The cookie value (only ever held in memory, the table stores its hash). */
  token: string;
  citizenId: string | null;
  csrfToken: string;
  login: PendingLogin | null;
}

const hash = (token: string) => createHash('sha256').update(token).digest('hex');
const random = () => randomBytes(32).toString('base64url');

/** Server-side portal sessions in PostgreSQL; the browser holds only a random id. */
export class SessionStore {
  readonly #pool: Pool;
  readonly #clock: Clock;
  readonly #ttlSeconds: number;

  constructor(pool: Pool, clock: Clock, ttlSeconds: number) {
    this.#pool = pool;
    this.#clock = clock;
    this.#ttlSeconds = ttlSeconds;
  }

  async find(token: string | undefined): Promise<PortalSession | undefined> {
    if (!token || token.length > 100) return undefined;
    const { rows } = await this.#pool.query<{
      citizen_id: string | null;
      csrf_token: string;
      login: PendingLogin | null;
    }>('SELECT citizen_id, csrf_token, login FROM portal_sessions WHERE id_hash = $1 AND expires_at > $2', [
      hash(token),
      this.#clock.now(),
    ]);
    const row = rows[0];
    return row
      ? { token, citizenId: row.citizen_id, csrfToken: row.csrf_token, login: row.login }
      : undefined;
  }

  /** A new session (new id, new CSRF token); used at sign-in start and again after sign-in (no fixation). */
  async create(citizenId: string | null, login: PendingLogin | null): Promise<PortalSession> {
    const session: PortalSession = { token: random(), citizenId, csrfToken: random(), login };
    const now = this.#clock.now();
    await this.#pool.query(
      `INSERT INTO portal_sessions (id_hash, citizen_id, csrf_token, login, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        hash(session.token),
        citizenId,
        session.csrfToken,
        login ? JSON.stringify(login) : null,
        now,
        new Date(now.getTime() + this.#ttlSeconds * 1000),
      ],
    );
    return session;
  }

  async destroy(token: string): Promise<void> {
    await this.#pool.query('DELETE FROM portal_sessions WHERE id_hash = $1', [hash(token)]);
  }

  async deleteExpired(): Promise<number> {
    const result = await this.#pool.query('DELETE FROM portal_sessions WHERE expires_at <= $1', [
      this.#clock.now(),
    ]);
    return result.rowCount ?? 0;
  }

  get ttlSeconds(): number {
    return this.#ttlSeconds;
  }
}

/** Constant-time comparison of the form's CSRF token with the session's. */
export function csrfMatches(session: PortalSession | undefined, submitted: unknown): boolean {
  if (!session || typeof submitted !== 'string' || submitted.length === 0) return false;
  const a = Buffer.from(session.csrfToken);
  const b = Buffer.from(submitted);
  return a.length === b.length && timingSafeEqual(a, b);
}
