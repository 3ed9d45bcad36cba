import type { Logger, Pool, PoolClient } from '@ndx/service-kit';
import type { QueryConfig } from 'pg';
import { ZodError } from 'zod';
import { AuditRecordInvalidError, AuditUnavailableError } from './errors.ts';
import {
  AUDIT_FORMAT_VERSION,
  computeRecordHash,
  toAuditContent,
  type AuditContent,
  type AuditRecord,
  type AuditRecordInput,
} from './record.ts';

export interface AuditWriterOptions {
  /** Most records written in one transaction (default 500). */
  maxBatchSize?: number;
  /** Most records waiting for a transaction; beyond it append rejects at once (default 10,000). */
  maxQueue?: number;
  /**
   * An append that has not committed within this many milliseconds rejects (default 5,000).
   * Also the statement and read timeout of each statement of a batch.
   */
  timeoutMs?: number;
  /** Clock for records without occurredAt (tests inject one). */
  clock?: () => Date;
  /** Called after each transaction, committed or not (for metrics: batch size, duration). */
  onBatch?: (batch: AuditBatchInfo) => void;
}

export interface AuditBatchInfo {
  records: number;
  durationMs: number;
  committed: boolean;
}

/** Where an appended record landed in the chain. */
export interface AppendResult {
  id: number;
  hash: string;
}

export interface AuditWriter {
  /**
   * Appends one record. Resolves only after the transaction holding it has committed;
   * rejects with AuditUnavailableError when it could not be written (fail closed) or with
   * AuditRecordInvalidError when the record is malformed.
   */
  append(record: AuditRecordInput): Promise<AppendResult>;
  /** Records accepted and not yet committed or failed. */
  readonly pending: number;
  /** Stops accepting records and waits for those already accepted. Does not end the pool. */
  close(): Promise<void>;
}

interface Entry {
  content: AuditContent;
  settled: boolean;
  timer: NodeJS.Timeout;
  resolve: (result: AppendResult) => void;
  reject: (err: Error) => void;
}

const INSERT_BATCH = `INSERT INTO audit_log (id, format_version, occurred_at, trace_id, consumer_id, purpose,
  citizen_id, operation_name, fields_requested, fields_released, fields_withheld, decision_id, policy_version,
  consent_id, providers, timings, outcome, prev_hash, hash, reference, caller_traceparent, end_user, consent_requested)
SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[],
  $7::text[], $8::text[], $9::jsonb[], $10::jsonb[], $11::jsonb[], $12::text[], $13::text[], $14::text[],
  $15::jsonb[], $16::jsonb[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::jsonb[],
  $23::text[])`;

/**
 * A group-commit writer: records appended while a transaction is in flight are written
 * together in the next one. Each transaction locks the chain head row (FOR UPDATE), so
 * writers in several processes append to one chain in a strict order.
 */
export function createAuditWriter(pool: Pool, logger: Logger, options: AuditWriterOptions = {}): AuditWriter {
  const maxBatchSize = clampInt(options.maxBatchSize ?? 500, 1, 5_000);
  const maxQueue = clampInt(options.maxQueue ?? 10_000, 1, 1_000_000);
  const timeoutMs = clampInt(options.timeoutMs ?? 5_000, 50, 600_000);
  const clock = options.clock ?? (() => new Date());
  const log = logger.child({ component: 'audit-writer' });
  const reportBatch = (info: AuditBatchInfo) => {
    try {
      options.onBatch?.(info);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'audit onBatch callback threw');
    }
  };

  const queue: Entry[] = [];
  let inFlight = 0;
  let flushing = false;
  let scheduled = false;
  let closed = false;
  let idleWaiters: (() => void)[] = [];

  const settle = (entry: Entry, outcome: { ok: AppendResult } | { err: Error }) => {
    if (entry.settled) return;
    entry.settled = true;
    clearTimeout(entry.timer);
    if ('ok' in outcome) entry.resolve(outcome.ok);
    else entry.reject(outcome.err);
  };

  const schedule = () => {
    if (flushing || scheduled) return;
    scheduled = true;
    setImmediate(() => void flushLoop());
  };

  const flushLoop = async () => {
    scheduled = false;
    flushing = true;
    try {
      while (queue.length > 0) {
        const batch: Entry[] = [];
        while (batch.length < maxBatchSize && queue.length > 0) {
          const entry = queue.shift()!;
          if (!entry.settled) batch.push(entry); // timed out while queued: never written
        }
        if (batch.length === 0) continue;
        inFlight = batch.length;
        const started = performance.now();
        let committed = false;
        try {
          const results = await writeBatch(
            pool,
            batch.map((e) => e.content),
            timeoutMs,
          );
          committed = true;
          batch.forEach((entry, i) => settle(entry, { ok: results[i]! }));
          log.debug({ records: batch.length, lastId: results.at(-1)?.id }, 'audit batch committed');
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          log.error({ err: message, records: batch.length }, 'audit batch failed; records not written');
          const failure = new AuditUnavailableError(`audit log could not be written: ${message}`);
          for (const entry of batch) settle(entry, { err: failure });
        } finally {
          inFlight = 0;
          reportBatch({ records: batch.length, durationMs: performance.now() - started, committed });
        }
      }
    } finally {
      flushing = false;
      if (queue.length > 0) schedule();
      else {
        const waiters = idleWaiters;
        idleWaiters = [];
        waiters.forEach((w) => w());
      }
    }
  };

  return {
    append(input: AuditRecordInput): Promise<AppendResult> {
      if (closed) return Promise.reject(new AuditUnavailableError('audit writer is closed'));
      let content: AuditContent;
      try {
        content = toAuditContent(input, clock());
      } catch (err) {
        const issues =
          err instanceof ZodError ? err.issues.map((i) => `${i.path.join('.')}: ${i.message}`) : [];
        return Promise.reject(
          new AuditRecordInvalidError(
            `invalid audit record: ${issues.join('; ') || (err as Error).message}`,
            {
              issues,
            },
          ),
        );
      }
      if (queue.length >= maxQueue) {
        return Promise.reject(new AuditUnavailableError(`audit queue is full (${maxQueue} records waiting)`));
      }
      return new Promise<AppendResult>((resolve, reject) => {
        const entry: Entry = {
          content,
          settled: false,
          resolve,
          reject,
          timer: setTimeout(
            () =>
              settle(entry, {
                err: new AuditUnavailableError(`audit record not committed within ${timeoutMs} ms`),
              }),
            timeoutMs,
          ),
        };
        queue.push(entry);
        schedule();
      });
    },
    get pending() {
      return queue.filter((e) => !e.settled).length + inFlight;
    },
    async close() {
      closed = true;
      if (!flushing && !scheduled && queue.length === 0) return;
      await new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}

/** One transaction: lock the head, chain the records after it, insert them, move the head. */
async function writeBatch(pool: Pool, contents: AuditContent[], timeoutMs: number): Promise<AppendResult[]> {
  const client = await connectWithin(pool, timeoutMs);
  // query_timeout is honoured by pg per query but missing from @types/pg's QueryConfig.
  const q = (text: string, values?: unknown[]) =>
    client.query({ text, values, query_timeout: timeoutMs } as QueryConfig);
  let failed = false;
  try {
    await q('BEGIN');
    await q(`SET LOCAL statement_timeout = ${timeoutMs}`);
    const head = await q(
      'SELECT last_id::text AS last_id, last_hash FROM audit_chain_head WHERE singleton FOR UPDATE',
    );
    const row = head.rows[0] as { last_id: string; last_hash: string } | undefined;
    if (!row)
      throw new Error('audit_chain_head row is missing (was the database migrated with migrateAudit?)');
    let id = Number(row.last_id);
    let prevHash = row.last_hash;
    const records: AuditRecord[] = contents.map((content) => {
      id += 1;
      const unhashed = { ...content, id, formatVersion: AUDIT_FORMAT_VERSION, prevHash };
      const hash = computeRecordHash(unhashed);
      prevHash = hash;
      return { ...unhashed, hash };
    });
    await q(INSERT_BATCH, columns(records));
    await q('UPDATE audit_chain_head SET last_id = $1, last_hash = $2 WHERE singleton', [id, prevHash]);
    await q('COMMIT');
    return records.map((r) => ({ id: r.id, hash: r.hash }));
  } catch (err) {
    failed = true;
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    // A connection that failed mid-transaction is not reused.
    client.release(failed);
  }
}

/** pool.connect() bounded in time even when the pool itself has no connection timeout. */
async function connectWithin(pool: Pool, timeoutMs: number): Promise<PoolClient> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const connecting = pool.connect();
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new Error(`no database connection within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([connecting, timeout]);
  } finally {
    clearTimeout(timer);
    if (timedOut)
      connecting.then(
        (late) => late.release(),
        () => undefined,
      );
  }
}

function columns(records: AuditRecord[]): unknown[][] {
  const json = (v: unknown) => JSON.stringify(v);
  return [
    records.map((r) => r.id),
    records.map((r) => r.formatVersion),
    records.map((r) => r.occurredAt),
    records.map((r) => r.traceId),
    records.map((r) => r.consumerId),
    records.map((r) => r.purpose),
    records.map((r) => r.citizenId),
    records.map((r) => r.operationName),
    records.map((r) => json(r.fieldsRequested)),
    records.map((r) => json(r.fieldsReleased)),
    records.map((r) => json(r.fieldsWithheld)),
    records.map((r) => r.decisionId),
    records.map((r) => r.policyVersion),
    records.map((r) => r.consentId),
    records.map((r) => json(r.providers)),
    records.map((r) => json(r.timings)),
    records.map((r) => r.outcome),
    records.map((r) => r.prevHash),
    records.map((r) => r.hash),
    records.map((r) => r.reference),
    records.map((r) => r.callerTraceparent),
    records.map((r) => (r.endUser === null ? null : json(r.endUser))),
    records.map((r) => r.consentRequested),
  ];
}

function clampInt(value: number, min: number, max: number): number {
  if (!Number.isFinite(value)) return min;
  return Math.min(max, Math.max(min, Math.trunc(value)));
}
