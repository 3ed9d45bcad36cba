import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool } from '@ndx/service-kit';
import type { SignedInUser } from './access-rules.ts';
import type { PendingLogin } from './fudi-sign-in.ts';

/**
 * A browser session: anonymous (a CSRF token for the sign-in form), a FUDI sign-in in progress
 * (`login`), or signed in (`user`, and the ID token for signing out at FUDI).
 */
export interface Session {
  /** The random id in the cookie; the table holds only its hash. */
  id: string;
  idHash: string;
  csrfToken: string;
  user?: SignedInUser;
  login?: PendingLogin;
  idToken?: string;
}

/** A session with someone signed in. */
export type SignedInSession = Session & { user: SignedInUser };

/** SHA-256 of a random token, as stored in the database. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');
export const randomToken = (): string => randomBytes(32).toString('base64url');

interface Row {
  csrf_token: string;
  subject: string | null;
  role: SignedInUser['role'] | null;
  name: string | null;
  login: PendingLogin | null;
  id_token: string | null;
}

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
    const { rows } = await this.#pool.query<Row>(
      `SELECT csrf_token, subject, role, name, login, id_token FROM sessions
        WHERE id_hash = $1 AND expires_at > $2`,
      [idHash, this.#now()],
    );
    const row = rows[0];
    if (!row) return undefined;
    const session: Session = { id, idHash, csrfToken: row.csrf_token };
    if (row.subject !== null && row.role !== null) {
      session.user = { subject: row.subject, role: row.role, name: row.name ?? undefined };
    }
    if (row.login) session.login = row.login;
    if (row.id_token) session.idToken = row.id_token;
    return session;
  }

  /**
   * A new session (new id, new CSRF token): anonymous, for a sign-in in progress, or signed in. Every
   * step of signing in gets a new one, so an id known before sign-in is worth nothing after it.
   */
  async create(
    fields: { user?: SignedInUser; login?: PendingLogin; idToken?: string } = {},
  ): Promise<Session> {
    const id = randomToken();
    const session: Session = { id, idHash: hashToken(id), csrfToken: randomToken(), ...fields };
    const now = this.#now();
    await this.#pool.query(
      `INSERT INTO sessions (id_hash, csrf_token, subject, role, name, login, id_token, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        session.idHash,
        session.csrfToken,
        fields.user?.subject ?? null,
        fields.user?.role ?? null,
        fields.user?.name ?? null,
        fields.login ? JSON.stringify(fields.login) : null,
        fields.idToken ?? null,
        now,
        new Date(now.getTime() + this.ttlSeconds * 1000),
      ],
    );
    return session;
  }

  async destroy(idHash: string): Promise<void> {
    await this.#pool.query('DELETE FROM sessions WHERE id_hash = $1', [idHash]);
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
