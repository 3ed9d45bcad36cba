import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createAuditWriter, listAccessesForCitizen, migrateAudit, type AuditRecordInput } from '@ndx/audit';
import { createLogger, createPool } from '@ndx/service-kit';
import { citizenTable } from './consent-rows.ts';
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
  /** `samples` appends through the audit writer, one at a time (each waits for its commit); none after `deadline`. */
  measureAppend: (samples: number, deadline?: number) => Promise<LatencySummary>;
  /** `samples` first pages (20) of a random citizen's access log (the portal's query); none after `deadline`. */
  measureAccessLog: (samples: number, deadline?: number) => Promise<LatencySummary>;
  close: () => Promise<void>;
}

/**
 * The bulk rows g = $2 … $3 of the writer's chain $4, column by column as migrations 1001 to 1003 of
 * @ndx/audit define audit_log (the one place to change when the audit schema changes): the record's content
 * copied from the template row t (the writer's real first record, seq 1), with its own place in the chain
 * (seq g; the id from the log's sequence), citizen (a hash join on bench_citizens), reference, trace id and
 * time; prev_hash and hash are g - 1 and g in hex, well-formed links of a chain that verify would reject,
 * which the measured operations never read.
 */
const AUDIT_COLUMNS: [column: string, value: string][] = [
  ['chain_id', 't.chain_id'],
  ['seq', 'g'],
  ['format_version', 't.format_version'],
  ['occurred_at', `now() - ($3::bigint - g) * interval '3 seconds'`],
  ['trace_id', `'bench' || g`],
  ['consumer_id', 't.consumer_id'],
  ['purpose', 't.purpose'],
  ['citizen_id', 'c.nic'],
  ['operation_name', 't.operation_name'],
  ['fields_requested', 't.fields_requested'],
  ['fields_released', 't.fields_released'],
  ['fields_withheld', 't.fields_withheld'],
  ['decision_id', 't.decision_id'],
  ['policy_version', 't.policy_version'],
  ['consent_id', 't.consent_id'],
  ['providers', 't.providers'],
  ['timings', 't.timings'],
  ['outcome', 't.outcome'],
  ['prev_hash', `lpad(to_hex(g - 1), 64, '0')`],
  ['hash', `lpad(to_hex(g), 64, '0')`],
  ['reference', `'bench-' || g`],
  ['caller_traceparent', 't.caller_traceparent'],
  ['end_user', 't.end_user'],
  ['consent_requested', 't.consent_requested'],
];
const FILL_SQL = `INSERT INTO audit_log (${AUDIT_COLUMNS.map(([column]) => column).join(', ')})
  SELECT ${AUDIT_COLUMNS.map(([, value]) => value).join(', ')}
    FROM audit_log t, generate_series($2::bigint, $3::bigint) AS g
    JOIN bench_citizens c ON c.position = 1 + (g * 2654435761) % $1::bigint
   WHERE t.chain_id = $4 AND t.seq = 1`;

/**
 * A scratch audit database on the stack's PostgreSQL, migrated by @ndx/audit itself, with one real
 * record appended by the writer (the template of the bulk rows).
 */
export async function openAuditScale(adminUrl: string, citizens: readonly string[]): Promise<AuditScale> {
  const database = `bench_audit_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  admin.on('error', (err) => logger.warn({ err: err.message }, 'admin connection failed'));
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const pool = createPool(url.toString(), logger, { max: 4, statementTimeoutMs: 600_000 });
  await migrateAudit(pool);
  const writer = createAuditWriter(pool, logger);
  // The citizens by position (a scratch table of this scratch database), for the bulk rows' hash join.
  await citizenTable(pool, 'bench_citizens', citizens);
  await writer.append(passportRecord(randomOf(citizens)));

  // The writer's chain is the only one in this database: its length is the log's.
  const rows = async () => {
    const { rows: head } = await pool.query<{ last_seq: string }>(
      'SELECT last_seq FROM audit_chains WHERE chain_id = $1',
      [writer.chainId],
    );
    return Number(head[0]!.last_seq);
  };
  return {
    rows,
    fill: async (target, budgetMs, onProgress) => {
      const deadline = performance.now() + budgetMs;
      let count = await rows();
      const chunk = 200_000;
      while (count < target && performance.now() < deadline) {
        const last = Math.min(target, count + chunk);
        // One transaction with its own statement timeout: the writer sets a short one on the pool's sessions.
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await client.query(`SET LOCAL statement_timeout = '600s'`);
          await client.query(FILL_SQL, [citizens.length, count + 1, last, writer.chainId]);
          // The head moves to the last row (forward only, onto an existing record, as the guards demand); the
          // writer's head in memory is then stale: its next append loses the compare-and-set once, reloads the
          // head and is written after it (the measurements leave out their first 50 appends).
          await client.query(
            `UPDATE audit_chains SET last_seq = $1,
               last_hash = (SELECT hash FROM audit_log WHERE chain_id = $2 AND seq = $1)
             WHERE chain_id = $2`,
            [last, writer.chainId],
          );
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        } finally {
          client.release();
        }
        count = last;
        onProgress(count);
      }
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`SET LOCAL statement_timeout = '600s'`);
        await client.query('ANALYZE audit_log');
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      return count;
    },
    measureAppend: async (samples, deadline = Infinity) => {
      const latencies: number[] = [];
      for (let i = 0; i < samples + 50 && performance.now() < deadline; i++) {
        const record = passportRecord(randomOf(citizens));
        const t0 = performance.now();
        await writer.append(record);
        if (i >= 50) latencies.push(performance.now() - t0);
      }
      return summariseLatencies(latencies);
    },
    measureAccessLog: async (samples, deadline = Infinity) => {
      const latencies: number[] = [];
      for (let i = 0; i < samples + 20 && performance.now() < deadline; i++) {
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
