import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool } from '@ndx/service-kit';

export interface Session {
  /** The random id in the cookie; the table holds only its hash. */
  id: string;
  idHash: string;
  csrfToken: string;
}

/** SHA-256 of a random token, as stored in the database. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');
export const randomToken = (): string => randomBytes(32).toString('base64url');

/** Server-side browser sessions in the `die` database. */
export class SessionStore {
  readonly #pool: Pool;
  readonly #now: () => Date;
  readonly ttlSeconds: number;

  constructor(pool: Pool, now: () => Date, ttlSeconds: number) {
    this.#pool = pool;
    this.#now = now;
    this.ttlSeconds = ttlSeconds;
  }

  /** The live session with this id, if any. */
  async find(id: string | undefined): Promise<Session | undefined> {
    if (!id || id.length > 100) return undefined;
    const idHash = hashToken(id);
    const { rows } = await this.#pool.query<{ csrf_token: string }>(
      'SELECT csrf_token FROM sessions WHERE id_hash = $1 AND expires_at > $2',
      [idHash, this.#now()],
    );
    return rows[0] ? { id, idHash, csrfToken: rows[0].csrf_token } : undefined;
  }

  async create(): Promise<Session> {
    const id = randomToken();
    const session: Session = { id, idHash: hashToken(id), csrfToken: randomToken() };
    const now = this.#now();
    await this.#pool.query(
      'INSERT INTO sessions (id_hash, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4)',
      [session.idHash, session.csrfToken, now, new Date(now.getTime() + this.ttlSeconds * 1000)],
    );
    return session;
  }

  async deleteExpired(): Promise<number> {
    const result = await this.#pool.query('DELETE FROM sessions WHERE expires_at <= $1', [this.#now()]);
    return result.rowCount ?? 0;
  }
}

/** Constant-time check of a submitted form's CSRF token against the session's. */
export function csrfMatches(session: Session | undefined, submitted: unknown): boolean {
  if (!session || typeof submitted !== 'string' || submitted.length === 0) return false;
  const expected = Buffer.from(session.csrfToken);
  const given = Buffer.from(submitted);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
