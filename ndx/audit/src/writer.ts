import { randomBytes } from 'node:crypto';
import type { Logger, Pool, PoolClient } from '@ndx/service-kit';
import type { QueryConfig } from 'pg';
import { ZodError } from 'zod';
import { AuditRecordInvalidError, AuditUnavailableError } from './errors.ts';
import {
  AUDIT_FORMAT_VERSION,
  CHAIN_ID_PATTERN,
  computeRecordHash,
  GENESIS_HASH,
  LEGACY_CHAIN_ID,
  toAuditContent,
  type AuditContent,
  type AuditRecord,
  type AuditRecordInput,
} from './record.ts';

export interface AuditWriterOptions {
  /**
   * The chain this writer appends to (one per OE instance): lower-case letters, digits, '.', '_', '-'.
   * Default: a new random one (`w-` and 12 hex digits). Two writers that share a chain id do not fork it:
   * the head moves by compare-and-set, and the writer that loses reloads the head and retries.
   */
  chainId?: string;
  /** Most records written in one statement (default 500). */
  maxBatchSize?: number;
  /** Most records waiting for a statement; beyond it append rejects at once (default 10,000). */
  maxQueue?: number;
  /**
   * An append that has not committed within this many milliseconds rejects (default 5,000).
   * Also the statement timeout of the writer's statements.
   */
  timeoutMs?: number;
  /**
   * Batches in flight at once on the chain (1 or 2, default 2): the next batch is sent, chained after the
   * one committing, and waits at the server for that one's commit before it inserts its rows.
   */
  pipelineDepth?: number;
  /** Clock for records without occurredAt (tests inject one). */
  clock?: () => Date;
  /** Called after each batch statement, committed or not (for metrics: batch size, duration). */
  onBatch?: (batch: AuditBatchInfo) => void;
}

export interface AuditBatchInfo {
  records: number;
  durationMs: number;
  committed: boolean;
  /** The chain head had moved (another writer on the same chain, or the batch before failed): retried. */
  conflict?: boolean;
}

/** Where an appended record landed. */
export interface AppendResult {
  /** The log's global key (the access log's cursor). */
  id: number;
  hash: string;
  chainId: string;
  /** Place in the chain. */
  seq: number;
}

export interface AuditWriter {
  /** The chain this writer appends to. */
  readonly chainId: string;
  /**
   * Appends one record. Resolves only after the statement holding it has committed (synchronous_commit
   * on); rejects with AuditUnavailableError when it could not be written (fail closed) or with
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
  /** Statements that lost the compare-and-set with this record in them. */
  conflicts: number;
  timer: NodeJS.Timeout;
  resolve: (result: AppendResult) => void;
  reject: (err: Error) => void;
}

interface ChainHead {
  seq: number;
  hash: string;
}

/** A record that lost the compare-and-set this many times is refused (fail closed). */
const MAX_CONFLICTS = 3;

/**
 * One statement per batch: lock the chain's head row, insert the rows (ids from the sequence, in chain order),
 * then move the head by compare-and-set (audit_chain_advance, migration 1003). If the head is not where this
 * writer chained the batch, the function raises and the statement (rows included) is rolled back. The lock
 * comes first so that a batch sent while the one before it commits takes its ids only after that one's: ids
 * follow the chain order (verify checks it), whichever statement reaches the server first.
 */
const APPEND_SQL = `WITH head AS (SELECT last_seq FROM audit_chains WHERE chain_id = $23::text FOR UPDATE),
ins AS (
  INSERT INTO audit_log (format_version, chain_id, seq, occurred_at, trace_id, consumer_id, purpose,
    citizen_id, operation_name, fields_requested, fields_released, fields_withheld, decision_id, policy_version,
    consent_id, providers, timings, outcome, prev_hash, hash, reference, caller_traceparent, end_user,
    consent_requested)
  SELECT ${AUDIT_FORMAT_VERSION}, $23::text, u.*
  FROM head, unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::jsonb[], $9::jsonb[], $10::jsonb[], $11::text[], $12::text[], $13::text[], $14::jsonb[], $15::jsonb[],
    $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::jsonb[], $22::text[])
    AS u(seq, occurred_at, trace_id, consumer_id, purpose, citizen_id, operation_name, fields_requested,
      fields_released, fields_withheld, decision_id, policy_version, consent_id, providers, timings, outcome,
      prev_hash, hash, reference, caller_traceparent, end_user, consent_requested)
  ORDER BY u.seq
  RETURNING id, seq
), counted AS (SELECT count(*) AS n, array_agg(id::text ORDER BY seq) AS ids FROM ins)
SELECT audit_chain_advance($23::text, $24::bigint, $25::text, $26::bigint, $27::text, counted.n) AS head,
  counted.ids FROM counted`;

/** Creates the chain if it is new (empty) and reads its head, in one statement. */
const LOAD_HEAD_SQL = `WITH created AS (
  INSERT INTO audit_chains (chain_id, last_seq, last_hash) VALUES ($1, 0, $2)
  ON CONFLICT (chain_id) DO NOTHING RETURNING last_seq, last_hash
)
SELECT last_seq::text AS last_seq, last_hash FROM created
UNION ALL SELECT last_seq::text, last_hash FROM audit_chains WHERE chain_id = $1
LIMIT 1`;

/** A new random chain id (`<prefix>-` and 12 hex digits), e.g. for an OE instance given none. */
export function newChainId(prefix = 'w'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/**
 * A group-commit writer that owns one chain: records appended while a batch is in flight are written
 * together in the next one, in one statement, chained after the head the writer keeps in memory (loaded
 * from audit_chains at the first batch and after any failure). The head moves by compare-and-set, so
 * two processes on one chain id cannot fork it: the loser reloads and retries (at most 3 times, then the
 * records are refused). Up to `pipelineDepth` batches are in flight.
 */
export function createAuditWriter(pool: Pool, logger: Logger, options: AuditWriterOptions = {}): AuditWriter {
  const chainId = options.chainId ?? newChainId();
  if (!CHAIN_ID_PATTERN.test(chainId) || chainId === LEGACY_CHAIN_ID) {
    throw new Error(
      `invalid audit chain id ${JSON.stringify(chainId)}: use a-z, 0-9, '.', '_', '-' (not 'legacy')`,
    );
  }
  const maxBatchSize = clampInt(options.maxBatchSize ?? 500, 1, 5_000);
  const maxQueue = clampInt(options.maxQueue ?? 10_000, 1, 1_000_000);
  const timeoutMs = clampInt(options.timeoutMs ?? 5_000, 50, 600_000);
  const depth = clampInt(options.pipelineDepth ?? 2, 1, 2);
  const clock = options.clock ?? (() => new Date());
  const log = logger.child({ component: 'audit-writer', chainId });
  const reportBatch = (info: AuditBatchInfo) => {
    try {
      options.onBatch?.(info);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'audit onBatch callback threw');
    }
  };

  let queue: Entry[] = [];
  /** The head the next batch is chained after (optimistic: batches in flight included); null: reload. */
  let head: ChainHead | null = null;
  let inFlight = 0;
  let inFlightRecords = 0;
  let closed = false;
  let idleWaiters: (() => void)[] = [];
  const prepared = new WeakSet<PoolClient>();
  /** Connections that have run the append statement (PostgreSQL has parsed and planned it there). */
  const appendReady = new WeakSet<PoolClient>();
  /** The batch chained last: the next one sends its append only after this one's (see runBatch). */
  let previous: BatchTurn | undefined;

  const settle = (entry: Entry, outcome: { ok: AppendResult } | { err: Error }) => {
    if (entry.settled) return;
    entry.settled = true;
    clearTimeout(entry.timer);
    if ('ok' in outcome) entry.resolve(outcome.ok);
    else entry.reject(outcome.err);
  };

  const takeBatch = (): Entry[] => {
    const batch: Entry[] = [];
    while (batch.length < maxBatchSize && queue.length > 0) {
      const entry = queue.shift()!;
      if (!entry.settled) batch.push(entry); // timed out while queued: never written
    }
    return batch;
  };

  const pump = () => {
    // A batch is chained after the head in memory; without one (start, or after a failure) the head is
    // reloaded by a batch sent alone, once every batch in flight has settled.
    while (inFlight < depth && (head !== null || inFlight === 0)) {
      const batch = takeBatch();
      if (batch.length === 0) break;
      inFlight += 1;
      inFlightRecords += batch.length;
      void runBatch(batch).finally(() => {
        inFlight -= 1;
        inFlightRecords -= batch.length;
        pump();
      });
    }
    if (inFlight === 0 && queue.length === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      waiters.forEach((w) => w());
    }
  };

  const runBatch = async (batch: Entry[]) => {
    const started = performance.now();
    const turn = newTurn();
    let client: PoolClient | undefined;
    let failed = false;
    try {
      client = await connectWithin(pool, timeoutMs);
      // query_timeout is honoured by pg per query but missing from @types/pg's QueryConfig.
      const q = (config: { text: string; values?: unknown[]; name?: string }) =>
        client!.query({ ...config, query_timeout: timeoutMs } as QueryConfig);
      if (!prepared.has(client)) {
        const { rows } = await q({
          text: `SELECT set_config('statement_timeout', $1, false) AS t, current_setting('synchronous_commit') AS sc`,
          values: [`${timeoutMs}ms`],
        });
        if ((rows[0] as { sc: string }).sc === 'off') {
          throw new NotDurableError(
            'synchronous_commit is off: a committed audit record could still be lost',
          );
        }
        prepared.add(client);
      }
      if (head === null) {
        // A second try sees the chain another writer created while the first statement ran.
        let row: { last_seq: string; last_hash: string } | undefined;
        for (let attempt = 0; attempt < 2 && !row; attempt++) {
          row = (await q({ text: LOAD_HEAD_SQL, values: [chainId, GENESIS_HASH] })).rows[0] as typeof row;
        }
        if (!row) throw new Error('audit_chains is missing (was the database migrated with migrateAudit?)');
        head = { seq: Number(row.last_seq), hash: row.last_hash };
        // The head is known again: the next batch may go while this one commits.
        setImmediate(pump);
      }
      const expected = head;
      const records = chain(batch, expected);
      const last = records.at(-1)!;
      head = { seq: last.seq, hash: last.hash };
      // A batch chained after the one before it must not take the chain's row lock first, or it finds the head
      // not yet moved and loses the compare-and-set (measured after a PostgreSQL restart: several "head moved"
      // retries a second for seconds). So it sends its append after the one before it sent its own, and when that
      // one went out on a connection that had never run it (parse and plan first: slower than a warm one), only
      // after it finished.
      const before = previous;
      previous = turn;
      if (before) {
        await before.sent;
        if (before.cold) await before.done;
      }
      turn.cold = !appendReady.has(client);
      turn.markSent();
      const { rows } = await q({
        name: 'ndx_audit_append_v4',
        text: APPEND_SQL,
        values: [...columns(records), chainId, expected.seq, expected.hash, last.seq, last.hash],
      });
      appendReady.add(client);
      const ids = (rows[0] as { ids: string[] }).ids;
      batch.forEach((entry, i) =>
        settle(entry, { ok: { id: Number(ids[i]), hash: records[i]!.hash, chainId, seq: records[i]!.seq } }),
      );
      reportBatch({ records: batch.length, durationMs: performance.now() - started, committed: true });
      log.debug({ records: batch.length, lastSeq: last.seq }, 'audit batch committed');
    } catch (err) {
      failed = true;
      head = null; // where the chain ends is no longer known here: reload before the next batch
      const conflict = isConflict(err);
      reportBatch({
        records: batch.length,
        durationMs: performance.now() - started,
        committed: false,
        conflict,
      });
      const message = err instanceof Error ? err.message : String(err);
      if (conflict) {
        // Nothing of this batch was written. Try its records again after the head is reloaded, in order.
        const again = batch.filter((e) => !e.settled && ++e.conflicts < MAX_CONFLICTS);
        for (const entry of batch.filter((e) => !again.includes(e))) {
          settle(entry, {
            err: new AuditUnavailableError(
              `audit chain ${chainId} kept moving under this writer: ${message}`,
            ),
          });
        }
        queue = [...again, ...queue];
        log.warn({ err: message, records: batch.length }, 'audit chain head moved; reloading and retrying');
      } else {
        log.error({ err: message, records: batch.length }, 'audit batch failed; records not written');
        const failure = new AuditUnavailableError(`audit log could not be written: ${message}`);
        for (const entry of batch) settle(entry, { err: failure });
      }
    } finally {
      // A connection that failed mid-statement is not reused.
      client?.release(failed);
      // One that failed before its append lets the next go (which then loses the compare-and-set and retries).
      turn.markSent();
      turn.markDone();
    }
  };

  const chain = (batch: Entry[], after: ChainHead): AuditRecord[] => {
    let seq = after.seq;
    let prevHash = after.hash;
    return batch.map((entry) => {
      seq += 1;
      const unhashed = {
        ...entry.content,
        id: 0,
        chainId,
        seq,
        formatVersion: AUDIT_FORMAT_VERSION,
        prevHash,
      };
      const hash = computeRecordHash(unhashed);
      prevHash = hash;
      return { ...unhashed, hash };
    });
  };

  return {
    chainId,
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
          conflicts: 0,
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
        if (queue.length === 1) setImmediate(pump);
      });
    },
    get pending() {
      return queue.filter((e) => !e.settled).length + inFlightRecords;
    },
    async close() {
      closed = true;
      if (inFlight === 0 && queue.length === 0) return;
      await new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}

/** The database would not make a commit durable: nothing is written (fail closed). */
class NotDurableError extends Error {}

/** A batch's progress, which the batch chained after it waits on. */
interface BatchTurn {
  /** Resolves when its append statement has been sent (or it ended without one). */
  sent: Promise<void>;
  /** Resolves when it has settled. */
  done: Promise<void>;
  /** Its append went out on a connection that had not run the statement before. */
  cold: boolean;
  markSent: () => void;
  markDone: () => void;
}

function newTurn(): BatchTurn {
  let markSent = () => {};
  let markDone = () => {};
  const sent = new Promise<void>((resolve) => (markSent = resolve));
  const done = new Promise<void>((resolve) => (markDone = resolve));
  return { sent, done, cold: false, markSent, markDone };
}

/** Another statement moved the chain head first (compare-and-set lost, or the same place taken). */
function isConflict(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string };
  return e.code === '40001' || (e.code === '23505' && e.constraint === 'audit_log_chain_seq_idx');
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
    records.map((r) => r.seq),
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
