import type pg from 'pg';
import { Pool as HttpPool } from 'undici';
import { percentile } from './loops.ts';
import { randomOf } from './paths.ts';

/** The passport query's provider fields, as the OE asks the CE about them. */
export const PASSPORT_FIELDS = [
  ['rgd', 'abc-212', 'getPersonInfo.fullName'],
  ['rgd', 'abc-212', 'getPersonInfo.dateOfBirth'],
  ['rgd', 'abc-212', 'getPersonInfo.sex'],
  ['rgd', 'abc-212', 'getPersonInfo.birthRegistrationNumber'],
  ['rgd', 'abc-212', 'getPersonInfo.birthPlace'],
  ['rgd', 'abc-212', 'getPersonInfo.district'],
  ['drp', 'drp-schema-v1', 'person.fullName'],
  ['drp', 'drp-schema-v1', 'person.otherNames'],
  ['drp', 'drp-schema-v1', 'person.permanentAddress'],
  ['drp', 'drp-schema-v1', 'person.profession'],
].map(([providerKey, schemaId, field]) => ({
  providerKey: providerKey!,
  schemaId: schemaId!,
  field: field!,
}));

/**
 * Every column of the template consent row (the stack's own demo consent, approved in the CE by its
 * prepare script) with some overridden: copies stay valid whatever columns the CE's table gains.
 */
const CLONE = (overrides: string) =>
  `(jsonb_populate_record(NULL::consents, to_jsonb(t) || jsonb_build_object(${overrides}))).*`;

/** The demo citizen's active passport consent: the template the copies are made from. */
async function templateId(db: pg.Pool, demoCitizen: string): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM consents WHERE citizen_id = $1 AND consumer_id = 'passport-app' AND status = 'ACTIVE'
     ORDER BY granted_at DESC LIMIT 1`,
    [demoCitizen],
  );
  if (!rows[0]) throw new Error(`no active demo consent for ${demoCitizen} to copy`);
  return rows[0].id;
}

/** ACTIVE passport consents (all ten fields, unexpired) for each of `nics`, inserted in one statement. */
export async function grantConsents(
  db: pg.Pool,
  demoCitizen: string,
  nics: readonly string[],
): Promise<void> {
  const template = await templateId(db, demoCitizen);
  await db.query(
    `INSERT INTO consents
     SELECT ${CLONE(`'id', gen_random_uuid(), 'citizen_id', c.nic, 'request_key', 'bench:' || c.nic,
                     'expires_at', now() + interval '30 days'`)}
     FROM consents t, unnest($1::text[]) AS c(nic) WHERE t.id = $2`,
    [nics, template],
  );
  await db.query('ANALYZE consents');
}

/**
 * Bulk history up to `total` consent rows, in chunks: random citizens of `all`, the passport app's older
 * consents that ended (REVOKED, EXPIRED, REJECTED) and other consumers' ACTIVE ones, so that each citizen
 * has about total / citizens rows, as years of use would leave. Returns the row count reached.
 */
export async function fillConsentHistory(
  db: pg.Pool,
  demoCitizen: string,
  all: readonly string[],
  total: number,
  onProgress: (rows: number) => void,
): Promise<number> {
  const template = await templateId(db, demoCitizen);
  let { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM consents');
  let count = Number(rows[0]!.n);
  const chunk = 200_000;
  // The citizens by position in a session table (analysed, so each row's citizen is a hash-join lookup).
  const client = await db.connect();
  await client.query('CREATE TEMP TABLE bench_citizens (i bigint PRIMARY KEY, nic text NOT NULL)');
  await client.query(
    'INSERT INTO bench_citizens SELECT u.i, u.nic FROM unnest($1::text[]) WITH ORDINALITY AS u(nic, i)',
    [all],
  );
  await client.query('ANALYZE bench_citizens');
  while (count < total) {
    const n = Math.min(chunk, total - count);
    await client.query(
      `INSERT INTO consents
       SELECT ${CLONE(`'id', gen_random_uuid(),
                       'citizen_id', c.nic,
                       'request_key', 'bench-history:' || g || ':' || $3::bigint,
                       'consumer_id', CASE WHEN g % 2 = 0 THEN 'passport-app' ELSE 'traffic-police-app' END,
                       'purpose', CASE WHEN g % 2 = 0 THEN 'passport-application' ELSE 'traffic-enforcement' END,
                       'status', CASE WHEN g % 2 = 1 THEN 'ACTIVE'
                                      WHEN g % 6 = 0 THEN 'REVOKED' WHEN g % 6 = 2 THEN 'EXPIRED' ELSE 'REJECTED' END,
                       'expires_at', CASE WHEN g % 2 = 1 THEN now() + interval '1 year'
                                          ELSE now() - (g % 700) * interval '1 day' END,
                       'revoked_at', CASE WHEN g % 6 = 0 THEN now() - (g % 700) * interval '1 day' END`)}
       FROM consents t, generate_series(1, $2::int) AS g
       JOIN bench_citizens c ON c.i = 1 + ((g + $3::bigint) * 2654435761) % $1::bigint
       WHERE t.id = $4`,
      [all.length, n, count, template],
    );
    count += n;
    onProgress(count);
  }
  await client.query('DROP TABLE bench_citizens');
  client.release();
  await db.query('ANALYZE consents');
  ({ rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM consents'));
  return Number(rows[0]!.n);
}

export interface LatencySummary {
  samples: number;
  p50: number;
  p99: number;
  mean: number;
}

export function summariseLatencies(latencies: number[]): LatencySummary {
  latencies.sort((a, b) => a - b);
  return {
    samples: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    mean: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length),
  };
}

/**
 * POST /v1/consents/check through HTTP with the OE's own token, one at a time (so each latency is one
 * check's, not a queue's), for random citizens with an active passport consent; every answer must be covered.
 */
export async function measureConsentCheck(
  ceUrl: string,
  token: () => Promise<string>,
  consented: readonly string[],
  samples: number,
): Promise<LatencySummary> {
  const pool = new HttpPool(ceUrl, { connections: 1 });
  const latencies: number[] = [];
  try {
    for (let i = 0; i < samples + 50; i++) {
      const body = JSON.stringify({
        citizenId: randomOf(consented),
        consumerId: 'passport-app',
        purpose: 'passport-application',
        fields: PASSPORT_FIELDS,
      });
      const authorization = `Bearer ${await token()}`;
      const t0 = performance.now();
      const response = await pool.request({
        path: '/v1/consents/check',
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body,
      });
      const answer = (await response.body.json()) as { covered?: boolean };
      const ms = performance.now() - t0;
      if (response.statusCode !== 200 || answer.covered !== true) {
        throw new Error(`consent check: ${response.statusCode} ${JSON.stringify(answer)}`);
      }
      if (i >= 50) latencies.push(ms); // the first 50 warm the connection and the CE's caches
    }
  } finally {
    await pool.close();
  }
  return summariseLatencies(latencies);
}
