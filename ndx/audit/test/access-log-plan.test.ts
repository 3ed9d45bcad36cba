/**
 * The citizen's access log stays one index range scan however large the log grows: a page is read from
 * audit_log_citizen_page_idx from the cursor on (no sort, no filter over other citizens' rows). Checked
 * with EXPLAIN on a migrated database holding 120,000 rows, half of them about one citizen: there the
 * planner, given the plain query (citizen, id < cursor, ORDER BY id DESC) and a (citizen_id, id) index,
 * walks the primary key backwards and filters every row by citizen (shown below, so the data set keeps
 * proving it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '@ndx/service-kit';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { ACCESS_LOG_PAGE_SQL, listAccessesForCitizen, migrateAudit } from '../src/index.ts';

const logger = testLogger('audit');
const ROWS = 120_000;
const HOT = '199560201234'; // every second record
const RARE = '852321234V'; // every 1,000th record

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Filter?: string;
  'Scan Direction'?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

describe('the access log query plan at scale', () => {
  let db: TestDatabase;
  let pool: Pool;
  beforeAll(async () => {
    db = await createTestDatabase('audit_plan');
    pool = createPool(db.url, logger, { max: 2, statementTimeoutMs: 120_000 });
    await migrateAudit(pool);
    // Rows shaped like format 3 records (the plan does not read hashes, so they are not chained).
    await pool.query(
      `INSERT INTO audit_log (format_version, chain_id, seq, occurred_at, trace_id, consumer_id, purpose, citizen_id,
         fields_requested, fields_released, fields_withheld, providers, timings, outcome, prev_hash, hash, reference)
       SELECT 3, 'oe-plan', g, timestamptz '2026-01-01' + g * interval '1 second', 't' || g, 'passport-app',
         'passport-application',
         CASE WHEN g % 1000 = 0 THEN $2 WHEN g % 2 = 0 THEN $1 ELSE lpad((190000000000 + g % 40000)::text, 12, '0') END,
         '[]', '[]', '[]', '[]', '{}', 'SUCCESS', repeat('0', 64), repeat('a', 64), 'r' || g
       FROM generate_series(1, $3::int) AS g`,
      [HOT, RARE, ROWS],
    );
    await pool.query('ANALYZE audit_log');
  }, 180_000);
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  async function plan(sql: string, values: unknown[]): Promise<PlanNode[]> {
    const { rows } = await pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (FORMAT JSON) ${sql}`,
      values,
    );
    return nodes(rows[0]!['QUERY PLAN'][0].Plan);
  }

  const scans = (all: PlanNode[]) => all.filter((n) => n['Node Type'].includes('Scan'));
  const NO_CURSOR = '9223372036854775807';

  it('the plain query would make the planner walk the primary key for a citizen in many records (the data provokes it)', async () => {
    await pool.query('CREATE INDEX plain_citizen_idx ON audit_log (citizen_id, id DESC)');
    try {
      const plain = `SELECT id FROM audit_log WHERE citizen_id = $1 AND id < $2::bigint ORDER BY id DESC LIMIT $3`;
      const [scan] = scans(await plan(plain, [HOT, NO_CURSOR, 21]));
      expect(scan).toMatchObject({
        'Index Name': 'audit_log_pkey',
        Filter: expect.stringContaining('citizen_id'),
      });
    } finally {
      await pool.query('DROP INDEX plain_citizen_idx');
    }
  });

  it.each([
    ['a citizen in half of all records, first page', HOT, NO_CURSOR],
    ['a citizen in few records, first page', RARE, NO_CURSOR],
    ['a citizen in half of all records, before a cursor', HOT, String(ROWS / 2)],
    ['a citizen in half of all records, deep in the history', HOT, '1000'],
    ['a citizen in few records, before a cursor', RARE, String(ROWS / 2)],
  ])('a page (%s) is one range scan of the citizen index, in order', async (_what, nic, before) => {
    const all = await plan(ACCESS_LOG_PAGE_SQL, [nic, before, 21]);
    expect(scans(all)).toEqual([
      expect.objectContaining({ 'Node Type': 'Index Scan', 'Index Name': 'audit_log_citizen_page_idx' }),
    ]);
    const [scan] = scans(all);
    expect(scan!['Index Cond']).toMatch(/citizen_id = .*\(- id\) > /);
    expect(scan!.Filter).toBeUndefined(); // nothing read only to be thrown away
    expect(all.map((n) => n['Node Type'])).not.toContain('Sort');
  });

  it('pages deep in a long history are the records just before the cursor, newest first', async () => {
    const page = await listAccessesForCitizen(pool, HOT, { limit: 3, before: 1_001 });
    expect(page.items.map((a) => a.id)).toEqual([998, 996, 994]);
    expect(page.nextBefore).toBe(994);
  });
});
