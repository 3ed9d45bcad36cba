import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createAuditWriter, listAccessesForCitizen, migrateAudit, type AuditRecordInput } from '@ndx/audit';
import { createLogger, createPool } from '@ndx/service-kit';
import { PASSPORT_FIELDS, summariseLatencies, type LatencySummary } from './consents.ts';
import { randomOf } from './paths.ts';

const logger = createLogger('bench-audit', { level: 'warn' });

/** What the OE records for one passport query released under consent (format 2, ten fields). */
export function passportRecord(citizenId: string): AuditRecordInput {
  const consentId = randomUUID();
  return {
    reference: randomUUID(),
    traceId: randomUUID().replaceAll('-', ''),
    callerTraceparent: null,
    consumerId: 'passport-app',
    endUser: null,
    purpose: 'passport-application',
    citizenId,
    operationName: 'Passport',
    fieldsRequested: PASSPORT_FIELDS,
    fieldsReleased: PASSPORT_FIELDS.map((f) => ({
      ...f,
      allowedBy: { basis: 'consent' as const, consentId },
    })),
    fieldsWithheld: [],
    decisionId: randomUUID(),
    policyVersion: '1',
    consentId,
    consentRequested: null,
    providers: [
      { providerKey: 'rgd', latencyMs: 4.1, outcome: 'OK', httpStatus: 200, attempts: 1 },
      { providerKey: 'drp', latencyMs: 6.3, outcome: 'OK', httpStatus: 200, attempts: 1 },
    ],
    timings: { validate: 0.4, plan: 0.1, pdp: 3.2, ce: 2.1, 'provider.rgd': 4.1, 'provider.drp': 6.3 },
    outcome: 'SUCCESS',
  } as AuditRecordInput;
}

export interface AuditScale {
  /** Rows in the log now. */
  rows: () => Promise<number>;
  /**
   * Bulk rows up to `target` (copies of the first record with new ids, citizens, references and hashes; the
   * chain head moved to the last), in chunks; stops early when `budgetMs` has passed. Returns the count reached.
   */
  fill: (target: number, budgetMs: number, onProgress: (rows: number) => void) => Promise<number>;
  /** `samples` appends through the audit writer, one at a time (each waits for its commit). */
  measureAppend: (samples: number) => Promise<LatencySummary>;
  /** `samples` first pages (20) of a random citizen's access log (the portal's query). */
  measureAccessLog: (samples: number) => Promise<LatencySummary>;
  close: () => Promise<void>;
}

/**
 * A scratch audit database on the stack's PostgreSQL, migrated by @ndx/audit itself, with one real
 * record appended by the writer (the template of the bulk rows).
 */
export async function openAuditScale(adminUrl: string, citizens: readonly string[]): Promise<AuditScale> {
  const database = `bench_audit_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const pool = createPool(url.toString(), logger, { max: 4, statementTimeoutMs: 600_000 });
  await migrateAudit(pool);
  const writer = createAuditWriter(pool, logger);
  // The citizens by position (a scratch table of this scratch database), for the bulk rows' hash join.
  await pool.query('CREATE TABLE bench_citizens (i bigint PRIMARY KEY, nic text NOT NULL)');
  await pool.query(
    'INSERT INTO bench_citizens SELECT u.i, u.nic FROM unnest($1::text[]) WITH ORDINALITY AS u(nic, i)',
    [citizens],
  );
  await pool.query('ANALYZE bench_citizens');
  await writer.append(passportRecord(randomOf(citizens)));

  const rows = async () => {
    const { rows: head } = await pool.query<{ last_id: string }>('SELECT last_id FROM audit_chain_head');
    return Number(head[0]!.last_id);
  };
  return {
    rows,
    fill: async (target, budgetMs, onProgress) => {
      const deadline = performance.now() + budgetMs;
      let count = await rows();
      const chunk = 250_000;
      while (count < target && performance.now() < deadline) {
        const last = Math.min(target, count + chunk);
        await pool.query(
          `INSERT INTO audit_log
           SELECT (jsonb_populate_record(NULL::audit_log, to_jsonb(t) || jsonb_build_object(
             'id', g,
             'citizen_id', c.nic,
             'reference', md5(g::text || 'ref'),
             'trace_id', md5(g::text || 'trace'),
             'occurred_at', now() - (($3::bigint - g) * interval '3 seconds'),
             'prev_hash', encode(sha256(((g - 1)::text)::bytea), 'hex'),
             'hash', encode(sha256((g::text)::bytea), 'hex')))).*
           FROM audit_log t, generate_series($2::bigint, $3::bigint) AS g
           JOIN bench_citizens c ON c.i = 1 + (g * 2654435761) % $1::bigint
           WHERE t.id = 1`,
          [citizens.length, count + 1, last],
        );
        await pool.query(
          `UPDATE audit_chain_head SET last_id = $1, last_hash = (SELECT hash FROM audit_log WHERE id = $1)`,
          [last],
        );
        count = last;
        onProgress(count);
      }
      await pool.query('ANALYZE audit_log');
      return count;
    },
    measureAppend: async (samples) => {
      const latencies: number[] = [];
      for (let i = 0; i < samples + 50; i++) {
        const record = passportRecord(randomOf(citizens));
        const t0 = performance.now();
        await writer.append(record);
        if (i >= 50) latencies.push(performance.now() - t0);
      }
      return summariseLatencies(latencies);
    },
    measureAccessLog: async (samples) => {
      const latencies: number[] = [];
      for (let i = 0; i < samples + 20; i++) {
        const nic = randomOf(citizens);
        const t0 = performance.now();
        await listAccessesForCitizen(pool, nic, { limit: 20 });
        if (i >= 20) latencies.push(performance.now() - t0);
      }
      return summariseLatencies(latencies);
    },
    close: async () => {
      await writer.close();
      await pool.end();
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    },
  };
}
