import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '@ndx/service-kit';
import { withDatabase } from '@ndx/service-kit/postgres';
import {
  createTestDatabase,
  postgresAdminUrl,
  testLogger,
  type TestDatabase,
} from '@ndx/service-kit/testing';
import { createAuditWriter, migrateAudit, verifyChain } from '../src/index.ts';
import { AMARA, BWALYA, passportRecord } from './fixtures.ts';
import { asSuperuserWithoutTrigger } from '../testing/index.ts';

const logger = testLogger('audit');

const CHAIN = 'oe-tamper';

/** A fresh database with a 10-record chain (seq 1..10, and ids 1..10 too); `admin` is a superuser pool on it. */
async function chainOf10(): Promise<{ db: TestDatabase; admin: Pool }> {
  const db = await createTestDatabase('audit_tamper');
  const admin = createPool(db.url, logger, { max: 2 });
  await migrateAudit(admin);
  const writer = createAuditWriter(admin, logger, { chainId: CHAIN });
  for (let i = 0; i < 10; i++) await writer.append(passportRecord(i % 2 ? AMARA : BWALYA));
  await writer.close();
  return { db, admin };
}

describe('tampering is detected by verify', () => {
  let db: TestDatabase;
  let admin: Pool;
  beforeEach(async () => {
    ({ db, admin } = await chainOf10());
  });
  afterEach(async () => {
    await admin.end();
    await db.drop();
  });

  it('an intact chain verifies', async () => {
    expect(await verifyChain(admin)).toEqual({
      ok: true,
      count: 10,
      chains: [{ chainId: CHAIN, ok: true, count: 10, headSeq: 10 }],
    });
  });

  it('a record whose content was edited is reported as the first broken link', async () => {
    await asSuperuserWithoutTrigger(admin, `UPDATE audit_log SET consumer_id = 'someone-else' WHERE id = 4`);
    const result = await verifyChain(admin, { batchSize: 3 });
    expect(result).toMatchObject({
      ok: false,
      chainId: CHAIN,
      firstBrokenSeq: 4,
      firstBrokenId: 4,
      reason: 'HASH_MISMATCH',
      count: 3,
    });
  });

  it('an edit inside a JSON column (a withheld field turned released) is detected', async () => {
    await asSuperuserWithoutTrigger(
      admin,
      `UPDATE audit_log SET fields_withheld = '[]', fields_released = fields_requested WHERE id = 7`,
    );
    expect(await verifyChain(admin)).toMatchObject({ ok: false, firstBrokenSeq: 7, reason: 'HASH_MISMATCH' });
  });

  it('a record whose hash was edited is reported', async () => {
    await asSuperuserWithoutTrigger(admin, `UPDATE audit_log SET hash = $1 WHERE id = 6`, [
      randomBytes(32).toString('hex'),
    ]);
    expect(await verifyChain(admin)).toMatchObject({ ok: false, firstBrokenSeq: 6, reason: 'HASH_MISMATCH' });
  });

  it('a deleted record is reported by its place in the chain', async () => {
    await asSuperuserWithoutTrigger(admin, 'DELETE FROM audit_log WHERE seq = 5');
    expect(await verifyChain(admin)).toMatchObject({
      ok: false,
      chainId: CHAIN,
      firstBrokenSeq: 5,
      reason: 'MISSING_RECORD',
      count: 4,
    });
  });

  it('deleted records at the end of the log are reported against the chain head', async () => {
    await asSuperuserWithoutTrigger(admin, 'DELETE FROM audit_log WHERE seq >= 9');
    expect(await verifyChain(admin)).toMatchObject({
      ok: false,
      firstBrokenSeq: 9,
      reason: 'MISSING_RECORD',
      count: 8,
    });
  });

  it('a deleted record whose successors were renumbered to close the gap is reported', async () => {
    await asSuperuserWithoutTrigger(admin, 'DELETE FROM audit_log WHERE seq = 3');
    await asSuperuserWithoutTrigger(admin, 'UPDATE audit_log SET seq = seq + 1000 WHERE seq > 3');
    await asSuperuserWithoutTrigger(admin, 'UPDATE audit_log SET seq = seq - 1001 WHERE seq > 1000');
    expect(await verifyChain(admin)).toMatchObject({
      ok: false,
      firstBrokenSeq: 3,
      reason: 'PREV_HASH_MISMATCH',
    });
  });

  it('two records swapped in order are reported', async () => {
    await asSuperuserWithoutTrigger(admin, 'UPDATE audit_log SET seq = seq + 1000 WHERE seq IN (2, 8)');
    await asSuperuserWithoutTrigger(
      admin,
      'UPDATE audit_log SET seq = CASE seq WHEN 1002 THEN 8 ELSE 2 END WHERE seq > 1000',
    );
    expect(await verifyChain(admin)).toMatchObject({ ok: false, firstBrokenSeq: 2 });
  });

  it('two records whose ids (the access log order, not hashed) were swapped are reported as ID_ORDER', async () => {
    await asSuperuserWithoutTrigger(admin, 'UPDATE audit_log SET id = id + 1000 WHERE id IN (2, 8)');
    await asSuperuserWithoutTrigger(
      admin,
      'UPDATE audit_log SET id = CASE id WHEN 1002 THEN 8 ELSE 2 END WHERE id > 1000',
    );
    expect(await verifyChain(admin)).toMatchObject({
      ok: false,
      chainId: CHAIN,
      // record 2 now has id 8, so record 3 (id 3) is the first whose id is not above its predecessor's
      firstBrokenSeq: 3,
      firstBrokenId: 3,
      reason: 'ID_ORDER',
      count: 2,
    });
  });
});

describe('the database keeps the log append-only', () => {
  const role = `audit_owner_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(16).toString('hex');
  const dbName = `t_audit_ro_${randomBytes(4).toString('hex')}`;
  let owner: Pool;
  let superuser: Pool;

  /** Like the stack: the service's own role owns the database and ran the migrations. */
  async function ownerSetup(): Promise<void> {
    const admin = new pg.Client({ connectionString: postgresAdminUrl() });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
      await admin.query(`CREATE DATABASE ${dbName} OWNER ${role}`);
    } finally {
      await admin.end();
    }
    const url = new URL(withDatabase(postgresAdminUrl(), dbName));
    url.username = role;
    url.password = password;
    owner = createPool(url.toString(), logger, { max: 2 });
    superuser = createPool(withDatabase(postgresAdminUrl(), dbName), logger, { max: 2 });
    await migrateAudit(owner);
    const writer = createAuditWriter(owner, logger);
    for (let i = 0; i < 3; i++) await writer.append(passportRecord(AMARA));
    await writer.close();
  }

  afterAll(async () => {
    await owner?.end();
    await superuser?.end();
    const admin = new pg.Client({ connectionString: postgresAdminUrl() });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  });

  it('the service role can append but not update, delete or truncate records', async () => {
    await ownerSetup();
    await expect(owner.query(`UPDATE audit_log SET consumer_id = 'x' WHERE id = 1`)).rejects.toThrow(
      /append-only: UPDATE is not allowed/,
    );
    await expect(owner.query('DELETE FROM audit_log WHERE id = 1')).rejects.toThrow(/append-only: DELETE/);
    await expect(owner.query('TRUNCATE audit_log')).rejects.toThrow(/append-only: TRUNCATE/);
    await expect(owner.query('DELETE FROM audit_chain_head')).rejects.toThrow(/not allowed/);
    await expect(owner.query('DELETE FROM audit_chains')).rejects.toThrow(/not allowed/);
    await expect(owner.query('TRUNCATE audit_chains')).rejects.toThrow(/not allowed/);
    const { rows } = await owner.query('SELECT count(*)::int AS n FROM audit_log');
    expect(rows[0].n).toBe(3);
  });

  it('the chain head cannot be moved back to hide records at the end, nor past them', async () => {
    await expect(owner.query('UPDATE audit_chains SET last_seq = 1')).rejects.toThrow(/only move forward/);
    await expect(owner.query(`UPDATE audit_chains SET last_seq = 99`)).rejects.toThrow(/existing record/);
    await expect(
      owner.query(
        `INSERT INTO audit_chains (chain_id, last_seq, last_hash) VALUES ('w-new', 5, repeat('a', 64))`,
      ),
    ).rejects.toThrow(/starts empty/);
    // The legacy chain's head (formats 1 and 2) is sealed too.
    await expect(owner.query(`UPDATE audit_chain_head SET last_id = 99`)).rejects.toThrow(/existing record/);
  });

  it('even a superuser is stopped while the triggers are enabled', async () => {
    await expect(superuser.query('DELETE FROM audit_log WHERE id = 2')).rejects.toThrow(/append-only/);
    expect(await verifyChain(superuser)).toMatchObject({ ok: true, count: 3 });
  });
});
