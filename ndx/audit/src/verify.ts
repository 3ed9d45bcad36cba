import type { Pool } from '@ndx/service-kit';
import { computeRecordHash, GENESIS_HASH, LEGACY_CHAIN_ID } from './record.ts';
import { AUDIT_COLUMNS, rowToRecord, type AuditRow } from './schema.ts';

/** Why a chain is broken at `firstBrokenSeq`. */
export type ChainBreak =
  /** The record's content or its stored hash was changed: the recomputed hash differs. */
  | 'HASH_MISMATCH'
  /** The record's prev_hash is not the previous record's hash (a record before it was removed, replaced or reordered). */
  | 'PREV_HASH_MISMATCH'
  /** A record at this place is missing: the chain jumps past it (deleted row). */
  | 'MISSING_RECORD'
  /** The chain head names a last record the chain does not end with (records at the end deleted). */
  | 'HEAD_MISMATCH'
  /** The record's id (the log's key, not hashed in format 3) is not above the id of the record before it in its chain. */
  | 'ID_ORDER';

export interface VerifyOptions {
  /** Only this chain (default: every chain, the sealed 'legacy' one included). */
  chainId?: string;
  /** Start at this place in the chain (its prev_hash is checked against the record before). Default 1. */
  fromSeq?: number;
  /** Same as fromSeq (in the legacy chain a record's place is its id). */
  fromId?: number;
  /** Rows read per query (default 1,000). */
  batchSize?: number;
}

/** The walk of one chain. */
export interface ChainVerifyResult {
  chainId: string;
  ok: boolean;
  /** Records checked and found intact (before the first break, if any). */
  count: number;
  /** Last place in the chain as its head recorded it when the walk began. */
  headSeq: number;
  /** Place in the chain of the first broken link (for MISSING_RECORD: the missing place). */
  firstBrokenSeq?: number;
  /** The log id of the record at firstBrokenSeq, when there is one. */
  firstBrokenId?: number;
  reason?: ChainBreak;
  /** One sentence for operators. */
  detail?: string;
}

export interface VerifyResult {
  /** Every chain walked is intact. */
  ok: boolean;
  /** Records checked and found intact, over all chains. */
  count: number;
  /** One result per chain: 'legacy' first (when it has records), then the writers' chains as they were created. */
  chains: ChainVerifyResult[];
  /** The first broken chain's break, repeated here: its chain, place, record id, reason and detail. */
  chainId?: string;
  firstBrokenSeq?: number;
  firstBrokenId?: number;
  reason?: ChainBreak;
  detail?: string;
}

interface Head {
  chainId: string;
  lastSeq: number;
  lastHash: string;
}

/** Every chain's head: the sealed legacy chain (formats 1 and 2) when it has records, then the writers' chains. */
export async function listChainHeads(pool: Pool): Promise<Head[]> {
  const { rows } = await pool.query<{ chain_id: string; last_seq: string; last_hash: string }>(
    `SELECT chain_id, last_seq, last_hash FROM (
       SELECT $1::text AS chain_id, last_id::text AS last_seq, last_hash, 0 AS k, '-infinity'::timestamptz AS at
         FROM audit_chain_head WHERE singleton AND last_id > 0
       UNION ALL
       SELECT chain_id, last_seq::text, last_hash, 1, created_at FROM audit_chains
     ) h ORDER BY k, at, chain_id`,
    [LEGACY_CHAIN_ID],
  );
  return rows.map((r) => ({ chainId: r.chain_id, lastSeq: Number(r.last_seq), lastHash: r.last_hash }));
}

/**
 * Walks every chain (or the one asked for) in order of place, in bounded batches, each up to its head as
 * it was when the walk began (appends during the walk are not checked), and reports each chain's first
 * broken link.
 */
export async function verifyChain(pool: Pool, options: VerifyOptions = {}): Promise<VerifyResult> {
  const batchSize = Math.min(10_000, Math.max(1, Math.trunc(options.batchSize ?? 1_000)));
  const fromSeq = Math.max(1, Math.trunc(options.fromSeq ?? options.fromId ?? 1));
  let heads = await listChainHeads(pool);
  if (options.chainId !== undefined) {
    heads = heads.filter((h) => h.chainId === options.chainId);
    if (heads.length === 0) {
      const missing: ChainVerifyResult = {
        chainId: options.chainId,
        ok: false,
        count: 0,
        headSeq: 0,
        reason: 'HEAD_MISMATCH',
        detail: `there is no chain ${options.chainId}`,
      };
      return summarise([missing]);
    }
  }
  const results: ChainVerifyResult[] = [];
  for (const head of heads) results.push(await verifyOne(pool, head, fromSeq, batchSize));
  return summarise(results);
}

function summarise(chains: ChainVerifyResult[]): VerifyResult {
  const count = chains.reduce((n, c) => n + c.count, 0);
  const broken = chains.find((c) => !c.ok);
  if (!broken) return { ok: true, count, chains };
  const { chainId, firstBrokenSeq, firstBrokenId, reason, detail } = broken;
  return { ok: false, count, chains, chainId, firstBrokenSeq, firstBrokenId, reason, detail };
}

/** A place in a chain already verified, and its record's hash then: where the next incremental walk starts. */
export interface ChainCheckpoint {
  chainId: string;
  seq: number;
  hash: string;
}

/** An incremental walk: each chain's result, and the checkpoints to keep for the next walk (its intact heads). */
export interface IncrementalVerifyResult extends VerifyResult {
  /** Per chain, the place the walk started (1 for a chain without a usable checkpoint). */
  startedAt: Record<string, number>;
  checkpoints: ChainCheckpoint[];
}

/**
 * Walks only from the checkpoints on (a chain without one, or whose head is now below it, from its start): the
 * checkpoint's record again (its content against its hash, its hash against the checkpoint's), then what was
 * appended since. A rewrite of an older record needs the full walk (verifyChain).
 */
export async function verifySinceCheckpoints(
  pool: Pool,
  checkpoints: readonly ChainCheckpoint[],
  options: { batchSize?: number } = {},
): Promise<IncrementalVerifyResult> {
  const batchSize = Math.min(10_000, Math.max(1, Math.trunc(options.batchSize ?? 1_000)));
  const known = new Map(checkpoints.map((c) => [c.chainId, c]));
  const results: ChainVerifyResult[] = [];
  const startedAt: Record<string, number> = {};
  const next: ChainCheckpoint[] = [];
  for (const head of await listChainHeads(pool)) {
    const checkpoint = known.get(head.chainId);
    const usable = checkpoint !== undefined && checkpoint.seq >= 1 && checkpoint.seq <= head.lastSeq;
    // The checkpoint's own record is walked again: its content must still match its hash, and its hash the checkpoint.
    const fromSeq = usable ? checkpoint.seq : 1;
    startedAt[head.chainId] = fromSeq;
    const result = await verifyOne(pool, head, fromSeq, batchSize, usable ? checkpoint.hash : undefined);
    results.push(result);
    if (result.ok && head.lastSeq > 0)
      next.push({ chainId: head.chainId, seq: head.lastSeq, hash: head.lastHash });
    else if (!result.ok && usable) next.push(checkpoint);
  }
  return { ...summarise(results), startedAt, checkpoints: next };
}

async function verifyOne(
  pool: Pool,
  head: Head,
  fromSeq: number,
  batchSize: number,
  /** The hash the record at fromSeq had when it was last verified (incremental walks). */
  anchorHash?: string,
): Promise<ChainVerifyResult> {
  const { chainId } = head;
  const legacy = chainId === LEGACY_CHAIN_ID;
  const headSeq = head.lastSeq;
  // The legacy chain's place is its id; a writer's chain's place is seq.
  const position = legacy ? 'audit_log.id' : 'audit_log.seq';
  const at = (seq: number) => (legacy ? `record ${seq}` : `record ${seq} of chain ${chainId}`);
  const broken = (
    count: number,
    seq: number,
    id: number | undefined,
    reason: ChainBreak,
    detail: string,
  ): ChainVerifyResult => ({
    chainId,
    ok: false,
    count,
    headSeq,
    firstBrokenSeq: seq,
    ...(id === undefined ? {} : { firstBrokenId: id }),
    reason,
    detail,
  });

  let expectedPrevHash = GENESIS_HASH;
  let lastId = 0;
  if (fromSeq > 1) {
    const before = await pool.query<{ id: string; hash: string }>(
      `SELECT id::text, hash FROM audit_log WHERE chain_id = $1 AND ${position} = $2`,
      [chainId, fromSeq - 1],
    );
    if (!before.rows[0]) {
      return broken(
        0,
        fromSeq - 1,
        undefined,
        'MISSING_RECORD',
        `${at(fromSeq - 1)}, before the start of the walk, is missing`,
      );
    }
    expectedPrevHash = before.rows[0].hash;
    lastId = Number(before.rows[0].id);
  }

  let expectedSeq = fromSeq;
  let count = 0;
  let lastHash = expectedPrevHash;
  while (expectedSeq <= headSeq) {
    const { rows } = await pool.query<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit_log
       WHERE chain_id = $1 AND ${position} >= $2 AND ${position} <= $3 ORDER BY ${position} LIMIT $4`,
      [chainId, expectedSeq, headSeq, batchSize],
    );
    if (rows.length === 0) break;
    for (const row of rows) {
      const record = rowToRecord(row);
      if (record.seq !== expectedSeq) {
        return broken(
          count,
          expectedSeq,
          undefined,
          'MISSING_RECORD',
          `${at(expectedSeq)} is missing; the next record is ${record.seq}`,
        );
      }
      if (record.prevHash !== expectedPrevHash) {
        return broken(
          count,
          record.seq,
          record.id,
          'PREV_HASH_MISMATCH',
          `${at(record.seq)} does not link to the record before it (prev_hash differs)`,
        );
      }
      if (anchorHash !== undefined && record.seq === fromSeq && record.hash !== anchorHash) {
        return broken(
          count,
          record.seq,
          record.id,
          'HASH_MISMATCH',
          `${at(record.seq)} was changed since it was last verified (its hash differs from the checkpoint's)`,
        );
      }
      if (computeRecordHash(record) !== record.hash) {
        return broken(
          count,
          record.seq,
          record.id,
          'HASH_MISMATCH',
          `${at(record.seq)} was changed after it was written (its hash does not match its content)`,
        );
      }
      if (!legacy && record.id <= lastId) {
        return broken(
          count,
          record.seq,
          record.id,
          'ID_ORDER',
          `${at(record.seq)} has id ${record.id}, not above the id ${lastId} of the record before it`,
        );
      }
      count += 1;
      expectedSeq = record.seq + 1;
      expectedPrevHash = record.hash;
      lastHash = record.hash;
      lastId = record.id;
    }
  }

  if (expectedSeq <= headSeq) {
    return broken(
      count,
      expectedSeq,
      undefined,
      'MISSING_RECORD',
      `the chain head says ${legacy ? 'the log' : `chain ${chainId}`} ends at record ${headSeq}, but records from ${expectedSeq} on are missing`,
    );
  }
  if (headSeq >= fromSeq && lastHash !== head.lastHash) {
    return broken(
      count,
      headSeq,
      undefined,
      'HEAD_MISMATCH',
      `the last record's hash differs from the one the chain head recorded for ${at(headSeq)}`,
    );
  }
  return { chainId, ok: true, count, headSeq };
}
