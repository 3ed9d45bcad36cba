import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '@ndx/service-kit';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import {
  chainHeads,
  createAuditWriter,
  migrateAudit,
  verifyChain,
  type AuditBatchInfo,
} from '../src/index.ts';
import { AMARA, BWALYA, passportRecord } from './fixtures.ts';
import { asSuperuserWithoutTrigger } from '../testing/index.ts';

describe('audit chain under concurrent appenders', () => {
  let db: TestDatabase;
  const pools: Pool[] = [];
  const logger = testLogger('audit');

  beforeAll(async () => {
    db = await createTestDatabase('audit_chain');
    for (let i = 0; i < 4; i++) pools.push(createPool(db.url, logger, { max: 3 }));
    await Promise.all(pools.map((p) => migrateAudit(p))); // concurrent migrators take turns
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await db.drop();
  });

  it('an appended record is committed and visible to another connection when append resolves', async () => {
    const writer = createAuditWriter(pools[0]!, logger);
    const { id, hash } = await writer.append(passportRecord(AMARA));
    const { rows } = await pools[1]!.query('SELECT hash, citizen_id, outcome FROM audit_log WHERE id = $1', [
      id,
    ]);
    expect(rows).toEqual([{ hash, citizen_id: AMARA, outcome: 'PARTIAL' }]);
    await writer.close();
  });

  it('1,000 appends from four writers (four OE instances) form four intact, gapless chains that verify together', async () => {
    const batches: AuditBatchInfo[] = [];
    const writers = pools.map((p, i) =>
      createAuditWriter(p, logger, { chainId: `oe-${i}`, onBatch: (b) => batches.push(b) }),
    );
    const before = await verifyChain(pools[0]!);
    const results = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) =>
        writers[i % writers.length]!.append(passportRecord(i % 2 ? AMARA : BWALYA)),
      ),
    );
    await Promise.all(writers.map((w) => w.close()));

    for (let w = 0; w < 4; w++) {
      const mine = results.filter((r) => r.chainId === `oe-${w}`);
      // each chain: places 1..250 with nothing lost and nothing from another writer in between
      expect(mine.map((r) => r.seq).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 250 }, (_, i) => i + 1),
      );
    }
    expect(new Set(results.map((r) => r.id)).size).toBe(1_000);
    expect(new Set(results.map((r) => r.hash)).size).toBe(1_000);

    const result = await verifyChain(pools[2]!, { batchSize: 137 });
    expect(result.ok).toBe(true);
    expect(result.count).toBe(before.count + 1_000);
    const ours = result.chains.filter((c) => c.chainId.startsWith('oe-'));
    expect(ours.sort((x, y) => x.chainId.localeCompare(y.chainId))).toEqual(
      [0, 1, 2, 3].map((w) => ({ chainId: `oe-${w}`, ok: true, count: 250, headSeq: 250 })),
    );

    // group commit: concurrent records share statements
    expect(batches.every((b) => b.committed)).toBe(true);
    expect(batches.reduce((n, b) => n + b.records, 0)).toBe(1_000);
    expect(batches.length).toBeLessThan(200);
  });

  it('two writers that share a chain id (two processes by mistake) do not fork it: the loser reloads the head and retries', async () => {
    const batches: AuditBatchInfo[] = [];
    const a = createAuditWriter(pools[0]!, logger, { chainId: 'oe-shared', onBatch: (b) => batches.push(b) });
    const b = createAuditWriter(pools[1]!, logger, { chainId: 'oe-shared', onBatch: (b) => batches.push(b) });
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) => (i % 2 ? a : b).append(passportRecord(i % 3 ? AMARA : BWALYA))),
    );
    await Promise.all([a.close(), b.close()]);
    // one chain, one record per place, 1..400: no two records at one place, no record left out
    expect(results.map((r) => r.seq).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 400 }, (_, i) => i + 1),
    );
    expect(batches.some((x) => x.conflict)).toBe(true); // they did collide, and nothing of a losing batch was kept
    const verified = await verifyChain(pools[2]!, { chainId: 'oe-shared' });
    expect(verified).toEqual({
      ok: true,
      count: 400,
      chains: [{ chainId: 'oe-shared', ok: true, count: 400, headSeq: 400 }],
    });
    const { rows } = await pools[0]!.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_log WHERE chain_id = 'oe-shared'`,
    );
    expect(rows[0]!.n).toBe(400);
  });

  it('each record links to the previous record of its chain by hash, starting from the genesis hash', async () => {
    const { rows } = await pools[0]!.query<{ seq: string; prev_hash: string; hash: string }>(
      `SELECT seq::text, prev_hash, hash FROM audit_log WHERE chain_id = 'oe-1' ORDER BY audit_log.seq LIMIT 50`,
    );
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(rows[0]!.prev_hash).toBe('0'.repeat(64));
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);
  });

  it('verify of one chain from a later record checks only the rest of that chain', async () => {
    const result = await verifyChain(pools[0]!, { chainId: 'oe-2', fromSeq: 201 });
    expect(result).toEqual({
      ok: true,
      count: 50,
      chains: [{ chainId: 'oe-2', ok: true, count: 50, headSeq: 250 }],
    });
  });

  it('a broken record in one chain is named by verify, with its chain, place and id; the other chains stay intact', async () => {
    const { rows } = await pools[0]!.query<{ id: string }>(
      `SELECT id::text FROM audit_log WHERE chain_id = 'oe-3' AND seq = 77`,
    );
    const id = Number(rows[0]!.id);
    const edit = (sql: string) => asSuperuserWithoutTrigger(pools[0]!, sql, [id]);
    await edit(`UPDATE audit_log SET outcome = 'SUCCESS', fields_withheld = '[]' WHERE id = $1`);
    try {
      const result = await verifyChain(pools[0]!);
      expect(result).toMatchObject({
        ok: false,
        chainId: 'oe-3',
        firstBrokenSeq: 77,
        firstBrokenId: id,
        reason: 'HASH_MISMATCH',
      });
      expect(result.chains.filter((c) => !c.ok).map((c) => c.chainId)).toEqual(['oe-3']);
      expect(result.chains.find((c) => c.chainId === 'oe-3')!.count).toBe(76);
      const intact = result.chains.filter((c) => c.chainId.startsWith('oe-') && c.ok).map((c) => c.chainId);
      expect(intact.sort()).toEqual(['oe-0', 'oe-1', 'oe-2', 'oe-shared']);
    } finally {
      await edit(
        `UPDATE audit_log SET outcome = 'PARTIAL',
           fields_withheld = '[{"providerKey":"DRP","schemaId":"drp-v1","field":"person.profession","reason":"FORBIDDEN"}]'
         WHERE id = $1`,
      );
    }
    expect((await verifyChain(pools[0]!)).ok).toBe(true);
  });

  it("chainHeads gives the head of every chain: its last place and that record's hash", async () => {
    const heads = await chainHeads(pools[0]!);
    const ours = heads
      .filter((h) => /^oe-[0-3]$/.test(h.chainId))
      .sort((a, b) => a.chainId.localeCompare(b.chainId));
    const { rows } = await pools[0]!.query<{ chain_id: string; hash: string }>(
      `SELECT chain_id, hash FROM audit_log WHERE chain_id IN ('oe-0', 'oe-1', 'oe-2', 'oe-3') AND seq = 250 ORDER BY chain_id`,
    );
    expect(ours.map((h) => h.chainId)).toEqual(['oe-0', 'oe-1', 'oe-2', 'oe-3']);
    expect(ours).toEqual(rows.map((r) => ({ chainId: r.chain_id, lastSeq: 250, lastHash: r.hash })));
  });

  it('values a caller passes by mistake are dropped, never stored: only field names and reasons are', async () => {
    const writer = createAuditWriter(pools[0]!, logger);
    const careless = {
      ...passportRecord(AMARA),
      data: { personInfo: { fullName: 'Amara Chanda' } },
      fieldsReleased: [
        { providerKey: 'RGD', schemaId: 'rgd-v1', field: 'person.fullName', value: 'Amara Chanda' },
      ],
    };
    const { id } = await writer.append(careless);
    await writer.close();
    const { rows } = await pools[0]!.query<{ row: string }>(
      'SELECT row_to_json(a)::text AS row FROM audit_log a WHERE id = $1',
      [id],
    );
    expect(rows[0]!.row).toContain('person.fullName');
    expect(rows[0]!.row).not.toContain('Amara Chanda');
    expect((await verifyChain(pools[0]!)).ok).toBe(true);
  });
});

describe('ids follow the chain order with two batches in flight', () => {
  let db: TestDatabase;
  let pool: Pool;
  const logger = testLogger('audit');
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    db = await createTestDatabase('audit_id_order');
    pool = createPool(db.url, logger, { max: 4 });
    await migrateAudit(pool);
    // The later batch (place 3) takes its id, then stalls before its row goes in: the interleaving a busy
    // or restarting server can produce between two connections.
    await pool.query(`CREATE FUNCTION stall_place_3() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.chain_id = 'oe-stall' AND NEW.seq = 3 THEN PERFORM pg_sleep(0.5); END IF;
        RETURN NEW;
      END $$`);
    await pool.query(
      'CREATE TRIGGER stall_place_3 BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION stall_place_3()',
    );
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('a batch sent after another never takes lower ids, even when it reaches the server first', async () => {
    // The earlier batch's statement leaves late, so the later batch's statement runs first.
    let delayNextAppend = false;
    const connect = pool.connect.bind(pool);
    const lateFirst = Object.assign(Object.create(pool) as Pool, {
      connect: async () => {
        const client = await connect();
        const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
        Object.assign(client, {
          query: async (...args: unknown[]) => {
            const name = (args[0] as { name?: string }).name;
            if (delayNextAppend && name?.startsWith('ndx_audit_append')) {
              delayNextAppend = false;
              await sleep(150);
            }
            return query(...args);
          },
        });
        return client;
      },
    });
    const writer = createAuditWriter(lateFirst, logger, { chainId: 'oe-stall', maxBatchSize: 1 });
    await writer.append(passportRecord(AMARA)); // place 1: the head is known, so the next two go together
    delayNextAppend = true;
    const [earlier, later] = await Promise.all([
      writer.append(passportRecord(AMARA)),
      writer.append(passportRecord(BWALYA)),
    ]);
    await writer.close();
    expect([earlier.seq, later.seq]).toEqual([2, 3]);
    expect(later.id).toBeGreaterThan(earlier.id);
    expect(await verifyChain(pool, { chainId: 'oe-stall' })).toMatchObject({ ok: true, count: 3 });
  });
});
