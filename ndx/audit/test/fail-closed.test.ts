import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '@ndx/service-kit';
import { createTestDatabase, freePort, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import {
  AuditRecordInvalidError,
  AuditUnavailableError,
  createAuditWriter,
  migrateAudit,
  verifyChain,
} from '../src/index.ts';
import { AMARA, passportRecord } from './fixtures.ts';

const logger = testLogger('audit');

describe('append fails closed', () => {
  let db: TestDatabase;
  let pool: Pool;
  beforeAll(async () => {
    db = await createTestDatabase('audit_fail');
    pool = createPool(db.url, logger, { max: 4 });
    await migrateAudit(pool);
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('rejects with AUDIT_UNAVAILABLE when the database cannot be reached', async () => {
    const port = await freePort(); // nothing listens here
    const deadPool = createPool(`postgres://nobody:nothing@127.0.0.1:${port}/ndx_audit`, logger, {
      connectionTimeoutMs: 1_000,
    });
    const writer = createAuditWriter(deadPool, logger, { timeoutMs: 2_000 });
    try {
      const results = await Promise.allSettled([
        writer.append(passportRecord(AMARA)),
        writer.append(passportRecord(AMARA)),
      ]);
      for (const result of results) {
        expect(result.status).toBe('rejected');
        const reason = (result as PromiseRejectedResult).reason;
        expect(reason).toBeInstanceOf(AuditUnavailableError);
        expect(reason).toMatchObject({ code: 'AUDIT_UNAVAILABLE', httpStatus: 503 });
      }
      expect(writer.pending).toBe(0);
    } finally {
      await writer.close();
      await deadPool.end();
    }
  });

  it('rejects on its timeout when the chain is locked by a stuck transaction, then recovers', async () => {
    const blocker = await pool.connect();
    const writer = createAuditWriter(pool, logger, { timeoutMs: 300, chainId: 'oe-stuck' });
    try {
      const first = createAuditWriter(pool, logger, { chainId: 'oe-stuck' });
      await first.append(passportRecord(AMARA)); // the chain exists
      await first.close();
      await blocker.query('BEGIN');
      await blocker.query(`SELECT * FROM audit_chains WHERE chain_id = 'oe-stuck' FOR UPDATE`);
      const started = Date.now();
      // Refused because the writer's own timeout ran out (not some other failure), long before a hang.
      await expect(writer.append(passportRecord(AMARA))).rejects.toMatchObject({
        code: 'AUDIT_UNAVAILABLE',
        message: expect.stringMatching(/within 300 ms|statement timeout|query read timeout/i),
      });
      expect(Date.now() - started).toBeLessThan(10_000);
      // The statement itself is bounded by the same timeout on the server: it gives up waiting for the
      // head and rolls back (the stuck transaction outlives it), so the refused record is not written.
      const waiting = async () =>
        (
          await pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%audit_chain_advance%' AND state = 'active' AND pid <> pg_backend_pid()`,
          )
        ).rows[0]!.n;
      await expect.poll(waiting, { timeout: 10_000 }).toBe(0);
      await blocker.query('ROLLBACK');
      const { seq } = await writer.append(passportRecord(AMARA));
      expect(seq).toBe(2); // the timed-out record took no place in the chain
      expect((await verifyChain(pool)).ok).toBe(true);
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n FROM audit_log WHERE chain_id = 'oe-stuck'`,
      );
      expect(rows[0].n).toBe(2); // the timed-out record was rolled back, not half-written
    } finally {
      blocker.release();
      await writer.close();
    }
  });

  it('after the database drops every connection (a restart), the next append succeeds on a new one', async () => {
    const restartPool = createPool(db.url, logger, { max: 2, applicationName: 'audit-restart-test' });
    const writer = createAuditWriter(restartPool, logger);
    const backends = async () =>
      (
        await pool.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = 'audit-restart-test'`,
        )
      ).rows.map((r) => r.pid);
    try {
      await writer.append(passportRecord(AMARA));
      const killedPids = await backends();
      expect(killedPids.length).toBeGreaterThan(0);
      await pool.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [killedPids]);
      // Wait for what a restart leaves behind, not for a guessed time: the backends are gone and the
      // pool has noticed that its idle connections died.
      await expect.poll(backends, { timeout: 10_000 }).toEqual([]);
      await expect.poll(() => restartPool.totalCount, { timeout: 10_000 }).toBe(0);
      await expect(writer.append(passportRecord(AMARA))).resolves.toMatchObject({ id: expect.any(Number) });
      const reconnected = await backends();
      expect(reconnected.length).toBeGreaterThan(0);
      expect(reconnected.filter((pid) => killedPids.includes(pid))).toEqual([]);
      expect((await verifyChain(pool)).ok).toBe(true);
    } finally {
      await writer.close();
      await restartPool.end();
    }
  });

  it('a record the database refuses fails its whole batch and leaves the chain intact', async () => {
    await pool.query(`ALTER TABLE audit_log ADD CONSTRAINT test_no_evil CHECK (consumer_id <> 'evil-app')`);
    const writer = createAuditWriter(pool, logger);
    try {
      const results = await Promise.allSettled([
        writer.append(passportRecord(AMARA)),
        writer.append(passportRecord(AMARA, { consumerId: 'evil-app' })),
      ]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      expect((await verifyChain(pool)).ok).toBe(true);
      await expect(writer.append(passportRecord(AMARA))).resolves.toMatchObject({ hash: expect.any(String) });
    } finally {
      await writer.close();
      await pool.query('ALTER TABLE audit_log DROP CONSTRAINT test_no_evil');
    }
  });

  it('refuses to write (fail closed) on a connection where synchronous_commit is off, so no record is acknowledged before it is durable', async () => {
    const url = new URL(db.url);
    url.searchParams.set('options', '-c synchronous_commit=off');
    const lax = createPool(url.href, logger, { max: 1 });
    const writer = createAuditWriter(lax, logger, { chainId: 'oe-lax' });
    try {
      await expect(writer.append(passportRecord(AMARA))).rejects.toMatchObject({
        code: 'AUDIT_UNAVAILABLE',
        message: expect.stringMatching(/synchronous_commit is off/),
      });
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM audit_log WHERE chain_id = 'oe-lax'`);
      expect(rows[0].n).toBe(0);
    } finally {
      await writer.close();
      await lax.end();
    }
  });

  it('a malformed record is refused before it reaches the database', async () => {
    const writer = createAuditWriter(pool, logger);
    const bad = [
      passportRecord('not-a-nic'),
      passportRecord(AMARA, { consumerId: '' }),
      passportRecord(AMARA, { outcome: 'MAYBE' as never }),
      passportRecord(AMARA, { timings: { pdp: Number.NaN } }),
      passportRecord(AMARA, { traceId: 'a\u0000b' }),
    ];
    for (const record of bad) {
      await expect(writer.append(record)).rejects.toBeInstanceOf(AuditRecordInvalidError);
    }
    await writer.close();
  });

  it('a closed writer refuses new records', async () => {
    const writer = createAuditWriter(pool, logger);
    const accepted = writer.append(passportRecord(AMARA));
    await writer.close();
    await expect(accepted).resolves.toMatchObject({ id: expect.any(Number) });
    await expect(writer.append(passportRecord(AMARA))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
  });

  it('a full queue refuses new records at once instead of waiting', async () => {
    const writer = createAuditWriter(pool, logger, { maxQueue: 5 });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => writer.append(passportRecord(AMARA))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(3);
    await writer.close();
  });
});
