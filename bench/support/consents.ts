import type pg from 'pg';
import { Pool as HttpPool } from 'undici';
import { citizenTable, generateConsents, PASSPORT_FIELDS } from './consent-rows.ts';
import { percentile } from './loops.ts';
import { randomOf } from './paths.ts';

export { PASSPORT_FIELDS };

/**
 * An ACTIVE passport consent (the ten fields, unexpired) for each of `nics` (bench/support/consent-rows.ts).
 */
export async function grantConsents(db: pg.Pool, nics: readonly string[]): Promise<void> {
  const client = await db.connect();
  try {
    const citizens = await citizenTable(client, 'bench_consented', nics, true);
    await generateConsents(client, {
      from: 0,
      to: nics.length,
      prefix: 'bench-grant',
      citizens,
      kinds: ['passport-active'],
    });
    await client.query('DROP TABLE bench_consented');
  } finally {
    client.release();
  }
}

/**
 * History up to `total` consent rows: for citizens of `all` in turn, the passport app's consents that ended
 * (REVOKED, EXPIRED) and the traffic police's ACTIVE one, as years of use would leave. Stops starting
 * batches after `deadline` (performance.now()). Returns the row count reached.
 */
export async function fillConsentHistory(
  db: pg.Pool,
  all: readonly string[],
  total: number,
  deadline: number,
  onProgress: (rows: number) => void,
): Promise<number> {
  const count = async () =>
    Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM consents')).rows[0]!.n);
  const before = await count();
  if (before < total) {
    const client = await db.connect();
    try {
      const citizens = await citizenTable(client, 'bench_citizens', all, true);
      await generateConsents(client, {
        from: 0,
        to: total - before,
        prefix: 'bench-history',
        citizens,
        kinds: ['passport-revoked', 'passport-expired', 'traffic-active'],
        deadline,
        onBatch: (done) => onProgress(before + done),
      });
      await client.query('DROP TABLE bench_citizens');
    } finally {
      client.release();
    }
  }
  return count();
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
 * Takes no further sample after `deadline` (performance.now()): the summary says how many it took.
 */
export async function measureConsentCheck(
  ceUrl: string,
  token: () => Promise<string>,
  consented: readonly string[],
  samples: number,
  deadline = Infinity,
): Promise<LatencySummary> {
  const pool = new HttpPool(ceUrl, { connections: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const latencies: number[] = [];
  try {
    for (let i = 0; i < samples + 50 && performance.now() < deadline; i++) {
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
