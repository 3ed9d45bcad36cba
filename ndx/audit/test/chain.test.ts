import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '@ndx/service-kit';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { createAuditWriter, migrateAudit, verifyChain, type AuditBatchInfo } from '../src/index.ts';
import { AMARA, BWALYA, passportRecord } from './fixtures.ts';

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

  it('1,000 appends from four writers on four pools form one intact, gapless chain', async () => {
    const batches: AuditBatchInfo[] = [];
    const writers = pools.map((p) => createAuditWriter(p, logger, { onBatch: (b) => batches.push(b) }));
    const before = await verifyChain(pools[0]!);
    const results = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) =>
        writers[i % writers.length]!.append(passportRecord(i % 2 ? AMARA : BWALYA)),
      ),
    );
    await Promise.all(writers.map((w) => w.close()));

    const ids = results.map((r) => r.id).sort((a, b) => a - b);
    expect(new Set(ids).size).toBe(1_000);
    expect(ids[999]! - ids[0]!).toBe(999); // contiguous ids: nothing lost, nothing interleaved from outside
    expect(new Set(results.map((r) => r.hash)).size).toBe(1_000);

    const result = await verifyChain(pools[2]!, { batchSize: 137 });
    expect(result).toEqual({ ok: true, count: before.count + 1_000, headId: before.headId + 1_000 });

    // group commit: concurrent records share transactions
    expect(batches.every((b) => b.committed)).toBe(true);
    expect(batches.reduce((n, b) => n + b.records, 0)).toBe(1_000);
    expect(batches.length).toBeLessThan(200);
  });

  it('each record links to the previous record by hash, starting from the genesis hash', async () => {
    const { rows } = await pools[0]!.query<{ id: string; prev_hash: string; hash: string }>(
      'SELECT id, prev_hash, hash FROM audit_log ORDER BY id LIMIT 50',
    );
    expect(rows[0]!.prev_hash).toBe('0'.repeat(64));
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);
  });

  it('verify from a later record checks only the rest of the chain', async () => {
    const result = await verifyChain(pools[0]!, { fromId: 901 });
    expect(result.ok).toBe(true);
    expect(result.count).toBe(result.headId - 900);
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
