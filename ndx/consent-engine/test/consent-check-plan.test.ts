/**
 * The coverage check's statement against a migrated database holding 200,000 consents of 50,000 citizens
 * (every status, two consumers): EXPLAIN shows the partial index `consents_active_by_subject` driving it,
 * with no sequential scan, no bitmap scan and no sort, for the plan of one execution (the parameters bound)
 * and for the generic plan PostgreSQL switches a prepared statement to; executing it reads a handful of
 * pages. A plan that read the table would show here, where a small test database would hide it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, migrate, type Pool } from '@ndx/service-kit';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { migrationsDir } from '../src/app.ts';
import { ACTIVE_GRANTS_MANY_SQL, ACTIVE_GRANTS_SQL } from '../src/consent-rows.ts';
import { ConsentStore } from '../src/consent-store.ts';
import { defaultConsumers, defaultPurposes } from '../src/config.ts';

const CONSENTS = 200_000;
const CITIZENS = 50_000;
const INDEX = 'consents_active_by_subject';
const NOW = new Date('2026-06-01T12:00:00Z');

/** Citizen i's NIC (12 digits). */
const nicOf = (i: number) => `1990${String(i).padStart(8, '0')}`;
const GRANTED = [
  { providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName', displayName: 'Full name' },
  { providerKey: 'drp', schemaId: 'drp-schema-v1', field: 'person.address', displayName: 'Address' },
];

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('ce_plan');
  pool = createPool(db.url, testLogger(), { max: 2, statementTimeoutMs: 120_000 });
  await migrate(pool, migrationsDir);
  // Row i: citizen i % CITIZENS, consumer alternating; status cycling ACTIVE, ACTIVE, REVOKED, EXPIRED,
  // PENDING (so each citizen has consents in several statuses); granted i minutes before NOW.
  await pool.query(
    `INSERT INTO consents (id, citizen_id, consumer_id, purpose, purpose_text, legal_basis, fields, status,
       request_key, notice_version, duration_seconds, created_at, decided_at, granted_at, expires_at,
       revoked_at, updated_at)
     SELECT md5('consent' || i)::uuid,
            '1990' || lpad((i % $2)::text, 8, '0'),
            CASE WHEN i % 2 = 0 THEN 'passport-app' ELSE 'traffic-police-app' END,
            'passport-application', 'Passport application', 'consent', $3::jsonb,
            (ARRAY['ACTIVE', 'ACTIVE', 'REVOKED', 'EXPIRED', 'PENDING'])[i % 5 + 1],
            md5('request' || i), 'v1', 2592000,
            $4::timestamptz - make_interval(mins => i), $4::timestamptz - make_interval(mins => i),
            CASE WHEN i % 5 = 4 THEN NULL ELSE $4::timestamptz - make_interval(mins => i) END,
            $4::timestamptz + interval '30 days' - make_interval(mins => i),
            CASE WHEN i % 5 = 2 THEN $4::timestamptz ELSE NULL END,
            $4::timestamptz
       FROM generate_series(0, $1 - 1) AS i`,
    [CONSENTS, CITIZENS, JSON.stringify(GRANTED.map((f) => ({ ...f, granted: true }))), NOW],
  );
  await pool.query('VACUUM ANALYZE consents');
}, 180_000);

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('the coverage check reads one citizen’s active consents through its index', () => {
  it(`with ${CONSENTS.toLocaleString('en')} consents, the executed plan scans ${INDEX} only, with no sort, reading a handful of pages`, async () => {
    expect((await pool.query<{ n: string }>('SELECT count(*) AS n FROM consents')).rows[0]!.n).toBe(
      String(CONSENTS),
    );
    const { rows } = await pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${ACTIVE_GRANTS_SQL}`,
      [nicOf(1230), 'passport-app', 'passport-application', NOW],
    );
    const nodes = nodesOf(rows[0]!['QUERY PLAN'][0].Plan);
    expect(nodes.map((n) => n['Node Type'])).toEqual(['Index Scan']);
    expect(nodes[0]!['Index Name']).toBe(INDEX);
    // The root's buffers include its children's: the index's few levels and the matching rows' heap pages.
    const pages = (nodes[0]!['Shared Hit Blocks'] ?? 0) + (nodes[0]!['Shared Read Blocks'] ?? 0);
    expect(pages).toBeGreaterThan(0);
    expect(pages).toBeLessThan(20);
  });

  it('the generic plan a prepared statement switches to is the same index scan, with no sort', async () => {
    const { rows } = await pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${ACTIVE_GRANTS_SQL}`,
    );
    const nodes = nodesOf(rows[0]!['QUERY PLAN'][0].Plan);
    expect(nodes.map((n) => [n['Node Type'], n['Index Name']])).toEqual([['Index Scan', INDEX]]);
  });

  it('the check over the large table credits the newest active consent and ignores revoked, expired and pending ones', async () => {
    const store = new ConsentStore({
      pool,
      clock: { now: () => NOW },
      consumers: defaultConsumers,
      purposes: defaultPurposes,
      durations: [],
      pendingTtlSeconds: 3600,
      noticeVersion: 'v1',
    });
    // Citizen c holds rows c, c + 50,000, c + 100,000 and c + 150,000: one consumer and one status each
    // (by c % 2 and c % 5), row c granted most recently (c minutes before NOW), each lasting 30 days.
    // Citizen 10: four ACTIVE rows for passport-app, of which only row 10 is unexpired.
    const subject = (i: number) => ({
      citizenId: nicOf(i),
      consumerId: 'passport-app',
      purpose: 'passport-application',
      fields: GRANTED,
    });
    const idOf = async (i: number) =>
      (await pool.query<{ id: string }>(`SELECT md5('consent' || $1::int)::uuid AS id`, [i])).rows[0]!.id;
    const active = await store.check(subject(10));
    expect(active.covered).toBe(true);
    expect(active.consentId).toBe(await idOf(10));
    expect(active.consentIds).toEqual([await idOf(10)]);
    // REVOKED (12 % 5 = 2), EXPIRED (18 % 5 = 3), PENDING (14 % 5 = 4), and ACTIVE but past its expiry
    // (45,000 minutes ago is more than 30 days).
    for (const ended of [12, 18, 14, 45_000]) {
      const answer = await store.check(subject(ended));
      expect(answer.covered).toBe(false);
      expect(answer.coveredBy).toEqual([]);
      expect(answer.missingFields).toHaveLength(2);
    }
  });
});

describe('the coverage check of several subjects in one statement reads each through the same index', () => {
  const subjects = [1230, 10, 12, 45_000].map(nicOf);
  const values = [
    subjects,
    subjects.map(() => 'passport-app'),
    subjects.map(() => 'passport-application'),
    NOW,
  ];
  const tableReads = (nodes: PlanNode[]) =>
    nodes.filter((n) => /Scan/.test(n['Node Type']) && n['Node Type'] !== 'Function Scan');

  it(`with ${CONSENTS.toLocaleString('en')} consents, every read of the table is a scan of ${INDEX} (no sequential or bitmap scan), reading a handful of pages per subject`, async () => {
    const { rows } = await pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${ACTIVE_GRANTS_MANY_SQL}`,
      values,
    );
    const root = rows[0]!['QUERY PLAN'][0].Plan;
    const reads = tableReads(nodesOf(root));
    expect(reads.map((n) => [n['Node Type'], n['Index Name']])).toEqual([['Index Scan', INDEX]]);
    const pages = (root['Shared Hit Blocks'] ?? 0) + (root['Shared Read Blocks'] ?? 0);
    expect(pages).toBeGreaterThan(0);
    expect(pages).toBeLessThan(20 * subjects.length);
  });

  it('the generic plan a prepared statement switches to reads the table through the same index only', async () => {
    const { rows } = await pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${ACTIVE_GRANTS_MANY_SQL}`,
    );
    const reads = tableReads(nodesOf(rows[0]!['QUERY PLAN'][0].Plan));
    expect(reads.map((n) => [n['Node Type'], n['Index Name']])).toEqual([['Index Scan', INDEX]]);
  });

  it('answers each subject as the check of that subject alone does, in order', async () => {
    const store = new ConsentStore({
      pool,
      clock: { now: () => NOW },
      consumers: defaultConsumers,
      purposes: defaultPurposes,
      durations: [],
      pendingTtlSeconds: 3600,
      noticeVersion: 'v1',
    });
    // Citizens with an active consent (10, 1230: 1230 % 5 = 0), ended ones (12, 18, 14, 45,000: see above),
    // the other consumer's (11), one twice.
    const requests = [10, 12, 1230, 18, 14, 45_000, 11, 10].map((i) => ({
      citizenId: nicOf(i),
      consumerId: i === 11 ? 'traffic-police-app' : 'passport-app',
      purpose: 'passport-application',
      fields: GRANTED,
    }));
    const many = await store.checkMany(requests);
    const one = await Promise.all(requests.map((r) => store.check(r)));
    expect(many).toEqual(one);
    expect(many.map((a) => a.covered)).toEqual([true, false, true, false, false, false, true, true]);
  });
});
