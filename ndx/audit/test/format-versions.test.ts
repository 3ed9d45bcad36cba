/**
 * Format 1 records (written before migration 1002) and format 2 records (issue 13: reference, caller's
 * traceparent, end user, what allowed each released field, the consent request asked for) live in one
 * chain, sealed as the chain 'legacy' by migration 1003: each verifies with its own hash rule, and a change
 * to either is found. Format 3 records (issue 12) go to their writer's own chain after them.
 */
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, migrate, type Pool } from '@ndx/service-kit';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import {
  AUDIT_FORMAT_VERSION,
  auditMigrationsDir,
  computeRecordHash,
  createAuditWriter,
  exportCitizenRecords,
  migrateAudit,
  toAuditContent,
  verifyChain,
  type AuditRecord,
} from '../src/index.ts';
import { asSuperuserWithoutTrigger } from '../testing/index.ts';
import { BWALYA, passportRecord } from './fixtures.ts';

const logger = testLogger('audit');

async function all(records: AsyncIterable<AuditRecord>): Promise<AuditRecord[]> {
  const list: AuditRecord[] = [];
  for await (const record of records) list.push(record);
  return list;
}

/** Two records exactly as the format 1 writer stored them (content and hash computed by that code). */
type FormatOneRecord = Omit<AuditRecord, 'reference' | 'callerTraceparent' | 'endUser' | 'consentRequested'>;
const formatOne = JSON.parse(
  await readFile(join(import.meta.dirname, 'format-v1-records.json'), 'utf8'),
) as FormatOneRecord[];

const INSERT_FORMAT_ONE = `INSERT INTO audit_log (id, format_version, occurred_at, trace_id, consumer_id, purpose,
  citizen_id, operation_name, fields_requested, fields_released, fields_withheld, decision_id, policy_version,
  consent_id, providers, timings, outcome, prev_hash, hash)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`;

/** Runs the audit migrations up to and including `files` only (as a database that was migrated back then). */
async function migrateOnly(pool: Pool, files: string[]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'audit-migrations-'));
  try {
    for (const file of files) await copyFile(join(auditMigrationsDir, file), join(dir, file));
    await migrate(pool, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const INSERT_FORMAT_TWO = `INSERT INTO audit_log (id, format_version, occurred_at, trace_id, consumer_id, purpose,
  citizen_id, operation_name, fields_requested, fields_released, fields_withheld, decision_id, policy_version,
  consent_id, providers, timings, outcome, prev_hash, hash, reference, caller_traceparent, end_user, consent_requested)
  VALUES ($1, 2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`;

/**
 * Appends a format 2 record to the one chain as the format 2 writer did (id after the head, hash by the
 * format 2 rule, head moved): the database must be at migration 1002.
 */
async function appendFormatTwo(pool: Pool, input: Parameters<typeof toAuditContent>[0]): Promise<void> {
  const { rows } = await pool.query<{ last_id: string; last_hash: string }>(
    'SELECT last_id::text, last_hash FROM audit_chain_head',
  );
  const id = Number(rows[0]!.last_id) + 1;
  const content = toAuditContent(input, new Date('2026-02-01T09:00:00Z'));
  const unhashed = { ...content, id, formatVersion: 2, prevHash: rows[0]!.last_hash };
  const r = { ...unhashed, hash: computeRecordHash(unhashed) };
  const json = (v: unknown) => (v === null ? null : JSON.stringify(v));
  await pool.query(INSERT_FORMAT_TWO, [
    r.id,
    r.occurredAt,
    r.traceId,
    r.consumerId,
    r.purpose,
    r.citizenId,
    r.operationName,
    json(r.fieldsRequested),
    json(r.fieldsReleased),
    json(r.fieldsWithheld),
    r.decisionId,
    r.policyVersion,
    r.consentId,
    json(r.providers),
    json(r.timings),
    r.outcome,
    r.prevHash,
    r.hash,
    r.reference,
    r.callerTraceparent,
    json(r.endUser),
    r.consentRequested,
  ]);
  await pool.query('UPDATE audit_chain_head SET last_id = $1, last_hash = $2', [id, r.hash]);
}

/**
 * A database holding the format 1 records, written before migration 1002 existed, and two format 2
 * records written before migration 1003, then migrated to now.
 */
async function logFromBeforeChains(): Promise<{ db: TestDatabase; pool: Pool }> {
  const db = await createTestDatabase('audit_formats');
  const pool = createPool(db.url, logger, { max: 3 });
  await migrateOnly(pool, ['1001_audit_log.sql']);
  for (const r of formatOne) {
    await pool.query(INSERT_FORMAT_ONE, [
      r.id,
      r.formatVersion,
      r.occurredAt,
      r.traceId,
      r.consumerId,
      r.purpose,
      r.citizenId,
      r.operationName,
      JSON.stringify(r.fieldsRequested),
      JSON.stringify(r.fieldsReleased),
      JSON.stringify(r.fieldsWithheld),
      r.decisionId,
      r.policyVersion,
      r.consentId,
      JSON.stringify(r.providers),
      JSON.stringify(r.timings),
      r.outcome,
      r.prevHash,
      r.hash,
    ]);
  }
  const last = formatOne.at(-1)!;
  await pool.query('UPDATE audit_chain_head SET last_id = $1, last_hash = $2', [last.id, last.hash]);
  await migrateOnly(pool, ['1001_audit_log.sql', '1002_audit_log_v2.sql']);
  await appendFormatTwo(
    pool,
    passportRecord(BWALYA, {
      reference: 'f2-first',
      callerTraceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      endUser: { subject: BWALYA, role: 'applicant' },
      consentRequested: 'consent-requested-y',
    }),
  );
  await appendFormatTwo(pool, passportRecord(BWALYA, { reference: 'f2-second' }));
  await migrateAudit(pool);
  return { db, pool };
}

describe('format 1 and format 2 records in one chain', () => {
  let db: TestDatabase;
  let pool: Pool;
  beforeAll(async () => {
    ({ db, pool } = await logFromBeforeChains());
    const writer = createAuditWriter(pool, logger, { chainId: 'oe-after' });
    await writer.append(passportRecord(BWALYA, { reference: 'f3-first' }));
    await writer.append(passportRecord(BWALYA, { reference: 'f3-second' }));
    await writer.close();
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  /** Applies one superuser edit, runs verify, and undoes the edit (so each check starts from an intact chain). */
  async function verifyAfter(edit: string, undo: string) {
    await asSuperuserWithoutTrigger(pool, edit);
    try {
      return await verifyChain(pool);
    } finally {
      await asSuperuserWithoutTrigger(pool, undo);
    }
  }

  it('after migration 1003, verifies the format 1 and 2 records as the legacy chain with their original hashes, and the format 3 records in their own chain', async () => {
    expect(AUDIT_FORMAT_VERSION).toBe(3);
    expect(await verifyChain(pool)).toEqual({
      ok: true,
      count: 6,
      chains: [
        { chainId: 'legacy', ok: true, count: 4, headSeq: 4 },
        { chainId: 'oe-after', ok: true, count: 2, headSeq: 2 },
      ],
    });
    const { rows } = await pool.query<{
      id: string;
      format_version: number;
      chain_id: string;
      seq: string | null;
      hash: string;
    }>('SELECT id::text, format_version, chain_id, seq::text, hash FROM audit_log ORDER BY id');
    expect(rows.map((r) => [Number(r.id), r.format_version, r.chain_id, r.seq])).toEqual([
      [1, 1, 'legacy', null],
      [2, 1, 'legacy', null],
      [3, 2, 'legacy', null],
      [4, 2, 'legacy', null],
      [5, 3, 'oe-after', '1'],
      [6, 3, 'oe-after', '2'],
    ]);
    expect(rows.slice(0, 2).map((r) => r.hash)).toEqual(formatOne.map((r) => r.hash));
  });

  it('seals the legacy chain: a writer of format 2 can no longer move its head (it fails closed)', async () => {
    await expect(
      pool.query(
        `UPDATE audit_chain_head SET last_id = 6, last_hash = (SELECT hash FROM audit_log WHERE id = 6)`,
      ),
    ).rejects.toThrow(/legacy audit chain is sealed/);
    await expect(
      asSuperuserWithoutTrigger(pool, `UPDATE audit_log SET format_version = 2 WHERE id = 6`),
    ).rejects.toThrow(/audit_log_chain_by_format/);
  });

  it('names the broken record of the legacy chain by its id, the other chain still intact', async () => {
    const result = await verifyAfter(
      `UPDATE audit_log SET trace_id = trace_id || 'x' WHERE id = 2`,
      `UPDATE audit_log SET trace_id = left(trace_id, -1) WHERE id = 2`,
    );
    expect(result).toMatchObject({
      ok: false,
      chainId: 'legacy',
      firstBrokenSeq: 2,
      firstBrokenId: 2,
      reason: 'HASH_MISMATCH',
    });
    expect(result.chains.map((c) => [c.chainId, c.ok])).toEqual([
      ['legacy', false],
      ['oe-after', true],
    ]);
  });

  it('reads a format 1 record back with null format 2 members, hashing to its stored hash', async () => {
    const [old] = await all(exportCitizenRecords(pool, '852321234V'));
    expect(old).toMatchObject({
      id: 1,
      formatVersion: 1,
      reference: null,
      callerTraceparent: null,
      endUser: null,
      consentRequested: null,
      consentId: 'c-pending-y',
    });
    expect(computeRecordHash(old!)).toBe(formatOne[0]!.hash);
  });

  it('stores every format 2 member of a new record', async () => {
    const records = await all(exportCitizenRecords(pool, BWALYA));
    expect(records.map((r) => r.id)).toEqual([1, 3, 4, 5, 6]);
    expect(records[1]).toMatchObject({
      formatVersion: 2,
      reference: 'f2-first',
      callerTraceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      endUser: { subject: BWALYA, role: 'applicant', assertedBy: 'passport-app' },
      consentRequested: 'consent-requested-y',
    });
    expect(records[1]!.fieldsReleased.map((f) => f.allowedBy?.basis)).toEqual(['policy', 'consent']);
    expect(records[2]).toMatchObject({ reference: 'f2-second', endUser: null, callerTraceparent: null });
    expect(records[3]).toMatchObject({
      formatVersion: 3,
      reference: 'f3-first',
      chainId: 'oe-after',
      seq: 1,
    });
  });

  it.each([
    [
      'an end user',
      `end_user = '{"subject":"x","role":"officer","assertedBy":"passport-app"}'`,
      'end_user = NULL',
    ],
    ['a consent request', `consent_requested = 'c-9'`, 'consent_requested = NULL'],
    [
      'a caller traceparent',
      `caller_traceparent = '00-${'1'.repeat(32)}-${'2'.repeat(16)}-01'`,
      'caller_traceparent = NULL',
    ],
  ])('finds %s added to a format 1 record', async (_what, set, unset) => {
    const result = await verifyAfter(
      `UPDATE audit_log SET ${set} WHERE id = 1`,
      `UPDATE audit_log SET ${unset} WHERE id = 1`,
    );
    expect(result).toMatchObject({ ok: false, firstBrokenId: 1, reason: 'HASH_MISMATCH' });
    expect(await verifyChain(pool)).toMatchObject({ ok: true });
  });

  it.each([
    ['its reference', `reference = 'chosen-by-someone'`, `reference = 'f2-first'`],
    [
      'its caller traceparent',
      `caller_traceparent = '00-${'1'.repeat(32)}-${'2'.repeat(16)}-01'`,
      `caller_traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'`,
    ],
    [
      'its end user',
      `end_user = jsonb_set(end_user, '{role}', '"officer"')`,
      `end_user = jsonb_set(end_user, '{role}', '"applicant"')`,
    ],
    ['the consent asked for', `consent_requested = NULL`, `consent_requested = 'consent-requested-y'`],
    [
      'what allowed a released field',
      `fields_released = jsonb_set(fields_released, '{1,allowedBy}', '{"basis":"policy","policyIds":[]}')`,
      `fields_released = jsonb_set(fields_released, '{1,allowedBy}', $q$${'{"basis":"consent","consentId":"__ID__"}'}$q$)`,
    ],
  ])('finds a change of %s in a format 2 record', async (_what, set, unset) => {
    const { rows } = await pool.query<{ id: string }>(
      `SELECT fields_released->1->'allowedBy'->>'consentId' AS id FROM audit_log WHERE id = 3`,
    );
    const result = await verifyAfter(
      `UPDATE audit_log SET ${set} WHERE id = 3`,
      `UPDATE audit_log SET ${unset.replace('__ID__', rows[0]!.id)} WHERE id = 3`,
    );
    expect(result).toMatchObject({ ok: false, firstBrokenId: 3, reason: 'HASH_MISMATCH' });
    expect(await verifyChain(pool)).toMatchObject({ ok: true });
  });

  it('finds a format 2 record passed off as format 1 (its new members dropped)', async () => {
    const result = await verifyAfter(
      `UPDATE audit_log SET format_version = 1, reference = NULL, end_user = NULL, caller_traceparent = NULL,
         consent_requested = NULL WHERE id = 4`,
      `UPDATE audit_log SET format_version = 2, reference = 'f2-second' WHERE id = 4`,
    );
    expect(result).toMatchObject({ ok: false, firstBrokenId: 4, reason: 'HASH_MISMATCH' });
    expect(await verifyChain(pool)).toMatchObject({ ok: true });
  });

  it('refuses a format 2 row without a reference, and a format 1 row with one', async () => {
    await expect(
      asSuperuserWithoutTrigger(pool, `UPDATE audit_log SET reference = NULL WHERE id = 3`),
    ).rejects.toThrow(/audit_log_reference_by_format/);
    await expect(
      asSuperuserWithoutTrigger(pool, `UPDATE audit_log SET reference = 'late' WHERE id = 2`),
    ).rejects.toThrow(/audit_log_reference_by_format/);
  });
});

describe('a format 2 record as the writer takes it', () => {
  const now = new Date('2026-03-01T10:00:00Z');
  const consentReleased = (consentId: string) => ({
    providerKey: 'DRP',
    schemaId: 'drp-v1',
    field: 'person.address',
    allowedBy: { basis: 'consent' as const, consentId },
  });

  it('gets a random reference of its own when none is given, different for every record', () => {
    const a = toAuditContent(passportRecord(BWALYA), now).reference;
    const b = toAuditContent(passportRecord(BWALYA), now).reference;
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(b).not.toBe(a);
  });

  it('records the end user as asserted by the record’s consumer', () => {
    const content = toAuditContent(
      passportRecord(BWALYA, {
        consumerId: 'passport-app',
        endUser: { subject: 'officer-17', role: 'officer' },
      }),
      now,
    );
    expect(content.endUser).toEqual({ subject: 'officer-17', role: 'officer', assertedBy: 'passport-app' });
  });

  it('refuses a consent request named as asked for that also allowed a released field', () => {
    expect(() =>
      toAuditContent(
        passportRecord(BWALYA, {
          fieldsReleased: [consentReleased('c-x')],
          consentId: null,
          consentRequested: 'c-x',
        }),
        now,
      ),
    ).toThrow(/a consent request that was only asked for cannot have allowed a released field/);
  });

  it('refuses a consentId that is the consent request asked for', () => {
    expect(() =>
      toAuditContent(
        passportRecord(BWALYA, {
          fieldsReleased: [{ providerKey: 'DRP', schemaId: 'drp-v1', field: 'person.address' }],
          consentId: 'c-y',
          consentRequested: 'c-y',
        }),
        now,
      ),
    ).toThrow(/not the request asked for/);
  });

  it('refuses a consentId that allowed none of the released fields', () => {
    expect(() =>
      toAuditContent(
        passportRecord(BWALYA, { fieldsReleased: [consentReleased('c-x')], consentId: 'c-y' }),
        now,
      ),
    ).toThrow(/consentId must be one of the consents/);
  });

  it('refuses a caller traceparent that is not one', () => {
    expect(() =>
      toAuditContent(passportRecord(BWALYA, { callerTraceparent: 'same-for-everyone' }), now),
    ).toThrow();
  });
});
