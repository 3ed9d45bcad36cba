import type { Pool } from '@ndx/service-kit';
import { computeRecordHash, GENESIS_HASH } from './record.ts';
import { AUDIT_COLUMNS, rowToRecord, type AuditRow } from './schema.ts';

/** Why the chain is broken at `firstBrokenId`. */
export type ChainBreak =
  /** The record's content or its stored hash was changed: the recomputed hash differs. */
  | 'HASH_MISMATCH'
  /** The record's prev_hash is not the previous record's hash (a record before it was removed, replaced or reordered). */
  | 'PREV_HASH_MISMATCH'
  /** A record with this id is missing: the ids jump past it (deleted row). */
  | 'MISSING_RECORD'
  /** The chain head names a last record the log does not end with (records at the end deleted). */
  | 'HEAD_MISMATCH';

export interface VerifyOptions {
  /** Start at this record (its prev_hash is checked against the stored hash of fromId - 1). Default 1. */
  fromId?: number;
  /** Rows read per query (default 1,000). */
  batchSize?: number;
}

export interface VerifyResult {
  /** Records checked and found intact (before the first break, if any). */
  count: number;
  ok: boolean;
  /** Id of the first record whose link is broken (for MISSING_RECORD: the missing id). */
  firstBrokenId?: number;
  reason?: ChainBreak;
  /** One sentence for operators. */
  detail?: string;
  /** Last record of the chain as recorded in the chain head when the walk began. */
  headId: number;
}

/**
 * Walks the chain in id order, in bounded batches, up to the chain head as it was when the
 * walk began (appends during the walk are not checked), and reports the first broken link.
 */
export async function verifyChain(pool: Pool, options: VerifyOptions = {}): Promise<VerifyResult> {
  const fromId = Math.max(1, Math.trunc(options.fromId ?? 1));
  const batchSize = Math.min(10_000, Math.max(1, Math.trunc(options.batchSize ?? 1_000)));

  const head = await pool.query<{ last_id: string; last_hash: string }>(
    'SELECT last_id::text AS last_id, last_hash FROM audit_chain_head WHERE singleton',
  );
  const headRow = head.rows[0];
  if (!headRow) {
    return broken(0, 0, 'HEAD_MISMATCH', 'the chain head row is missing', 0);
  }
  const headId = Number(headRow.last_id);

  let expectedPrevHash = GENESIS_HASH;
  if (fromId > 1) {
    const before = await pool.query<{ hash: string }>('SELECT hash FROM audit_log WHERE id = $1', [
      fromId - 1,
    ]);
    if (!before.rows[0]) {
      return broken(
        0,
        fromId - 1,
        'MISSING_RECORD',
        `record ${fromId - 1}, before the start of the walk, is missing`,
        headId,
      );
    }
    expectedPrevHash = before.rows[0].hash;
  }

  let expectedId = fromId;
  let count = 0;
  let lastHash = expectedPrevHash;
  while (expectedId <= headId) {
    const { rows } = await pool.query<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE id >= $1 AND id <= $2 ORDER BY audit_log.id LIMIT $3`,
      [expectedId, headId, batchSize],
    );
    if (rows.length === 0) break;
    for (const row of rows) {
      const record = rowToRecord(row);
      if (record.id !== expectedId) {
        return broken(
          count,
          expectedId,
          'MISSING_RECORD',
          `record ${expectedId} is missing; the next record is ${record.id}`,
          headId,
        );
      }
      if (record.prevHash !== expectedPrevHash) {
        return broken(
          count,
          record.id,
          'PREV_HASH_MISMATCH',
          `record ${record.id} does not link to the record before it (prev_hash differs)`,
          headId,
        );
      }
      if (computeRecordHash(record) !== record.hash) {
        return broken(
          count,
          record.id,
          'HASH_MISMATCH',
          `record ${record.id} was changed after it was written (its hash does not match its content)`,
          headId,
        );
      }
      count += 1;
      expectedId = record.id + 1;
      expectedPrevHash = record.hash;
      lastHash = record.hash;
    }
  }

  if (expectedId <= headId) {
    return broken(
      count,
      expectedId,
      'MISSING_RECORD',
      `the chain head says the log ends at record ${headId}, but records from ${expectedId} on are missing`,
      headId,
    );
  }
  if (headId >= fromId && lastHash !== headRow.last_hash) {
    return broken(
      count,
      headId,
      'HEAD_MISMATCH',
      `the last record's hash differs from the one the chain head recorded for record ${headId}`,
      headId,
    );
  }
  return { count, ok: true, headId };
}

function broken(count: number, id: number, reason: ChainBreak, detail: string, headId: number): VerifyResult {
  return { count, ok: false, firstBrokenId: id, reason, detail, headId };
}
