import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, type Pool } from '@ndx/service-kit';
import type { Nic } from '@ndx/contract';
import type { SignedInUser } from './access-rules.ts';
import type { Lookup } from './passport-lookup.ts';
import type { SubmittedForm } from './passport-form.ts';

export type ApplicationStatus = 'DRAFT' | 'SUBMITTED';

/** What the citizen decided at the consent portal, as reported on their return. */
export interface ConsentDecision {
  consentId: string;
  status: 'ACTIVE' | 'REJECTED';
  at: string;
}

/** Everything NDX told the app about this application's citizen (stored as `sources`). */
export interface ApplicationSources {
  lookup?: Lookup;
  consentDecisions: ConsentDecision[];
}

export interface Application {
  id: string;
  nic: Nic;
  /** Who started it (FUDI subject and role); null for applications from before sign-in existed. */
  startedBy: Pick<SignedInUser, 'subject' | 'role'> | null;
  status: ApplicationStatus;
  form: Partial<SubmittedForm>;
  sources: ApplicationSources;
  createdAt: Date;
  updatedAt: Date;
  submittedAt: Date | null;
}

interface Row {
  id: string;
  nic: string;
  started_by: string | null;
  started_by_role: SignedInUser['role'] | null;
  status: ApplicationStatus;
  form: Partial<SubmittedForm>;
  sources: Partial<ApplicationSources>;
  created_at: Date;
  updated_at: Date;
  submitted_at: Date | null;
}

const COLUMNS =
  'id, nic, started_by, started_by_role, status, form, sources, created_at, updated_at, submitted_at';

const toApplication = (row: Row): Application => ({
  id: row.id,
  nic: row.nic as Nic,
  startedBy:
    row.started_by !== null && row.started_by_role !== null
      ? { subject: row.started_by, role: row.started_by_role }
      : null,
  status: row.status,
  form: row.form,
  sources: { consentDecisions: [], ...row.sources },
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  submittedAt: row.submitted_at,
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Passport applications in the `die` database. Who may see which is decided by the routes with
 * `mayProcess` (access-rules.ts): this store only keeps them.
 */
export class ApplicationStore {
  readonly #pool: Pool;
  readonly #now: () => Date;

  constructor(pool: Pool, now: () => Date) {
    this.#pool = pool;
    this.#now = now;
  }

  async create(startedBy: Pick<SignedInUser, 'subject' | 'role'>, nic: Nic): Promise<Application> {
    const now = this.#now();
    const { rows } = await this.#pool.query<Row>(
      `INSERT INTO applications (id, started_by, started_by_role, nic, status, form, sources, created_at, updated_at)
       VALUES ($1, $2, $3, $4, 'DRAFT', '{}', $5, $6, $6) RETURNING ${COLUMNS}`,
      [randomUUID(), startedBy.subject, startedBy.role, nic, JSON.stringify({ consentDecisions: [] }), now],
    );
    return toApplication(rows[0]!);
  }

  /** The application, if it exists; otherwise NOT_FOUND (404). */
  async get(id: string): Promise<Application> {
    if (!UUID.test(id)) throw new NotFoundError('no such application');
    const { rows } = await this.#pool.query<Row>(`SELECT ${COLUMNS} FROM applications WHERE id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError('no such application');
    return toApplication(rows[0]);
  }

  /** The most recent applications about a citizen (an applicant's own), newest first. */
  async listForNic(nic: Nic, limit = 10): Promise<Application[]> {
    return this.#list('nic = $1', nic, limit);
  }

  /** The most recent applications someone started (an officer's), newest first. */
  async listStartedBy(subject: string, limit = 10): Promise<Application[]> {
    return this.#list('started_by = $1', subject, limit);
  }

  async #list(condition: string, value: string, limit: number): Promise<Application[]> {
    const { rows } = await this.#pool.query<Row>(
      `SELECT ${COLUMNS} FROM applications WHERE ${condition} ORDER BY created_at DESC, id LIMIT $2`,
      [value, Math.min(Math.max(limit, 1), 100)],
    );
    return rows.map(toApplication);
  }

  /** Stores the latest NDX answer of a draft. */
  async saveLookup(id: string, lookup: Lookup): Promise<void> {
    await this.#updateDraft(id, `sources = jsonb_set(sources, '{lookup}', $2::jsonb)`, [
      JSON.stringify(lookup),
    ]);
  }

  /** Appends the citizen's decision, as reported by the portal's return, to a draft. */
  async recordConsentDecision(id: string, decision: ConsentDecision): Promise<void> {
    await this.#updateDraft(
      id,
      `sources = jsonb_set(sources, '{consentDecisions}', COALESCE(sources->'consentDecisions', '[]'::jsonb) || $2::jsonb)`,
      [JSON.stringify([decision])],
    );
  }

  /** Saves the final form and marks the application SUBMITTED; a second submit is a CONFLICT (409). */
  async submit(id: string, form: SubmittedForm): Promise<Application> {
    const now = this.#now();
    const { rows } = await this.#pool.query<Row>(
      `UPDATE applications SET form = $2, status = 'SUBMITTED', submitted_at = $3, updated_at = $3
        WHERE id = $1 AND status = 'DRAFT' RETURNING ${COLUMNS}`,
      [id, JSON.stringify(form), now],
    );
    if (!rows[0]) throw new ConflictError('this application was already submitted');
    return toApplication(rows[0]);
  }

  async #updateDraft(id: string, assignment: string, params: unknown[]): Promise<void> {
    const result = await this.#pool.query(
      `UPDATE applications SET ${assignment}, updated_at = $${params.length + 2}
        WHERE id = $1 AND status = 'DRAFT'`,
      [id, ...params, this.#now()],
    );
    if (result.rowCount === 0) throw new ConflictError('this application was already submitted');
  }
}
