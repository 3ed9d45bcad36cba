/**
 * Faults under load, on the real stack: while passport queries for many consented citizens run (a closed loop,
 * IN_FLIGHT at a time, each with a client-side timeout), a provider (RGD), the PDP, the CE and FUDI are each
 * killed with SIGKILL and started again by the launcher, and PostgreSQL is restarted. Every answer is checked:
 *   - none hangs past the client's timeout;
 *   - while RGD is down, the DRP fields keep flowing;
 *   - while the CE or PostgreSQL is down, nothing is released (every answer of the outage); while the PDP is
 *     down, nothing after its change-feed lease lapsed, and before that only under a decision-table decision;
 *   - after the dependency is back (ready), the OE answers completely again within 10 s, by itself;
 *   - no consent or audit record is lost or changed (counts and a digest before and after, every audit
 *     reference an answer carried is in the log, `ndx audit verify` passes);
 *   - every released value has its audit record.
 * Prints the error rate and the recovery time per fault. FAULT_ROUNDS (default 1) repeats the faults.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceName } from '@ndx/stack';
import { consentedCitizens } from './support/consent-pool.ts';
import {
  closedLoop,
  freshToken,
  isGood,
  loadClient,
  PASSPORT_LEAVES,
  report,
  roundRobin,
  type LoadAnswer,
  type LoadClient,
} from './support/load.ts';
import { runNdx } from './support/ndx-cli.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';
import { runsOneAtATime } from './support/one-at-a-time.ts';

const ROUNDS = Number(process.env.FAULT_ROUNDS ?? 1);
const CITIZENS = 16;
const IN_FLIGHT = 16;
/** The client gives up on a request after this long: a hang, counted as a failure. */
const CLIENT_TIMEOUT_MS = 15_000;
/** How long each fault lasts before the launcher starts the service (or PostgreSQL) again. */
const DOWN_MS = 3_000;
/**
 * The PDP's change-feed lease (POLICY_FEED_LEASE_MS in the stack, 3 s): for that long after its last renewal the
 * OE may still decide from a decision table, because no policy can become active before the lease lapses (a
 * restarted PDP waits that long too). The PDP's outage lasts this much longer, and only answers started after
 * the lease (plus a margin) must release nothing; those before it may release only under a table decision.
 */
const PDP_LEASE_MS = 3_000;
const LEASE_MARGIN_MS = 1_000;
/** The issue's bound: the OE answers completely again this soon after its dependency is back. */
const RECOVERY_BOUND_MS = 10_000;
/** How long the test waits for a first good answer before it gives up (a generous measurement window). */
const RECOVERY_WAIT_MS = 30_000;
/** How long the load goes on after the last recovery, so that the audit writer's reloads after it are seen. */
const LOAD_AFTER_LAST_FAULT_MS = 5_000;

type Fault = ServiceName | 'postgres';
const FAULTS: Fault[] = [
  'rgd-api',
  'policy-decision-point',
  'consent-engine',
  'identity-provider',
  'postgres',
];
const RGD_LEAVES = Object.keys(PASSPORT_LEAVES).filter((k) => PASSPORT_LEAVES[k]!.startsWith('rgd'));
const DRP_LEAVES = Object.keys(PASSPORT_LEAVES).filter((k) => PASSPORT_LEAVES[k]!.startsWith('drp'));

interface FaultReport {
  fault: Fault;
  round: number;
  /** performance.now(): the process was gone; its restart began; it was ready again; first good answer. */
  downAt: number;
  restartAt: number;
  upAt: number;
  firstGoodAt: number;
  /** Answers started after downAt and finished before restartAt. */
  outage: LoadAnswer[];
  /** Answers started from downAt to the first good answer: how many were not good. */
  affected: number;
  failed: number;
}

let t: TestStack;
// Alone among the timing-sensitive files (the packages' tests run beside it).
runsOneAtATime();
let client: LoadClient;
let consentDb: pg.Pool;
let auditDb: pg.Pool;
let nics: string[];

interface Snapshot {
  consents: number;
  events: number;
  digest: string;
  audit: number;
}

async function snapshot(): Promise<Snapshot> {
  const consents = await consentDb.query<{ n: string; digest: string }>(
    `SELECT count(*) AS n, md5(string_agg(id::text || status || fields::text || expires_at::text, ',' ORDER BY id)) AS digest FROM consents`,
  );
  const events = await consentDb.query<{ n: string }>('SELECT count(*) AS n FROM consent_events');
  const audit = await auditDb.query<{ n: string }>('SELECT count(*) AS n FROM audit_log');
  return {
    consents: Number(consents.rows[0]!.n),
    digest: consents.rows[0]!.digest,
    events: Number(events.rows[0]!.n),
    audit: Number(audit.rows[0]!.n),
  };
}

/**
 * What the OE's audit writer said about its batches, on performance.now()'s clock: that its chain head moved (it
 * reloads the head and retries the batch), or that a batch failed (its records were refused), with the error.
 */
function auditWriterLines(): { at: number; kind: 'head moved' | 'batch failed'; err: string }[] {
  const log = readFileSync(join(t.stack.context.dataDir, 'logs', 'orchestration-engine.log'), 'utf8');
  return log
    .split('\n')
    .filter((line) => line.includes('audit chain head moved') || line.includes('audit batch failed'))
    .map((line) => {
      const entry = JSON.parse(line) as { time: string; msg: string; err?: unknown };
      return {
        at: Date.parse(entry.time) - performance.timeOrigin,
        kind: entry.msg.includes('head moved') ? ('head moved' as const) : ('batch failed' as const),
        err: String(entry.err ?? '').slice(0, 100),
      };
    });
}

/** `ndx audit verify` (bin/ndx, as an operator runs it) against the stack's audit database. */
const auditVerify = () => runNdx(['audit', 'verify'], { DATABASE_URL: t.databaseUrl('ndx_audit') }, 60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (bounded) for the first good answer that started at or after `from`; returns when it finished. */
async function firstGoodAfter(answers: LoadAnswer[], from: number): Promise<number> {
  const deadline = performance.now() + RECOVERY_WAIT_MS;
  for (;;) {
    const good = answers.filter((a) => a.started >= from && isGood(a));
    if (good.length > 0) return Math.min(...good.map((a) => a.finished));
    if (performance.now() > deadline) return Number.POSITIVE_INFINITY;
    await sleep(50);
  }
}

async function inject(fault: Fault, round: number, answers: LoadAnswer[]): Promise<FaultReport> {
  // Healthy first: a good answer that started now.
  expect(await firstGoodAfter(answers, performance.now()), `no good answer before ${fault}`).toBeLessThan(
    Number.POSITIVE_INFINITY,
  );
  let downAt = 0;
  let restartAt = 0;
  if (fault === 'postgres') {
    await t.stack.restartPostgres(async () => {
      downAt = performance.now();
      await sleep(DOWN_MS);
      restartAt = performance.now();
    });
  } else {
    await t.stack.killService(fault, 'SIGKILL');
    downAt = performance.now();
    await sleep(fault === 'policy-decision-point' ? DOWN_MS + PDP_LEASE_MS + LEASE_MARGIN_MS : DOWN_MS);
    restartAt = performance.now();
    await t.stack.restartService(fault);
  }
  const upAt = performance.now();
  const firstGoodAt = await firstGoodAfter(answers, upAt);
  const outage = answers.filter((a) => a.started >= downAt && a.finished <= restartAt);
  const window = answers.filter((a) => a.started >= downAt && a.started <= firstGoodAt);
  return {
    fault,
    round,
    downAt,
    restartAt,
    upAt,
    firstGoodAt,
    outage,
    affected: window.length,
    failed: window.filter((a) => !isGood(a)).length,
  };
}

/** For a fault the OE did not recover from in time: outcomes per 2 s after it, which services live, their last errors. */
function diagnose(r: FaultReport, answers: LoadAnswer[]): string {
  const buckets = new Map<number, Map<string, number>>();
  for (const a of answers.filter((x) => x.started >= r.downAt)) {
    const bucket = Math.floor((a.started - r.upAt) / 2000) * 2;
    const outcome = `${a.status} ${Object.values(a.errors)[0] ?? ''}${a.failure ?? ''}`.slice(0, 80);
    const counts = buckets.get(bucket) ?? new Map<string, number>();
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    buckets.set(bucket, counts);
  }
  const lines = [`${r.fault} did not recover; outcomes by seconds after it was back:`];
  for (const [bucket, counts] of [...buckets].sort((x, y) => x[0] - y[0]))
    lines.push(`  ${bucket} s: ${JSON.stringify([...counts])}`);
  for (const service of t.stack.services) {
    const pid = t.stack.pid(service.name);
    const alive = pid !== undefined && existsSync(`/proc/${pid}`);
    let last: string;
    try {
      // A service that is gone: its last lines whatever they are (a crash prints its stack to stderr).
      last = readFileSync(join(t.stack.context.dataDir, 'logs', `${service.name}.log`), 'utf8')
        .split('\n')
        .filter((l) => !alive || l.startsWith('{"level":5'))
        .slice(alive ? -2 : -15)
        .map((l) => l.slice(0, 400))
        .join('\n    ');
    } catch {
      last = '(no log)';
    }
    lines.push(`  ${service.name} ${alive ? 'alive' : 'GONE'}${last ? `\n    ${last}` : ''}`);
  }
  return lines.join('\n');
}

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'], ownPostgres: true });
  const operatorToken = await t.clientToken('ndx-operator', 'urn:ndx:consent', 'admin');
  nics = await consentedCitizens(t, operatorToken, CITIZENS);
  client = loadClient(
    t.url('orchestration-engine'),
    freshToken(() => t.clientToken('passport-app', 'urn:ndx:api')),
    CLIENT_TIMEOUT_MS,
  );
  consentDb = new pg.Pool({ connectionString: t.databaseUrl('ndx_consent'), max: 1 });
  auditDb = new pg.Pool({ connectionString: t.databaseUrl('ndx_audit'), max: 2 });
  // Pools that outlive PostgreSQL's restart: a dropped idle connection is replaced on the next query.
  for (const p of [consentDb, auditDb]) p.on('error', () => undefined);
}, 300_000);

afterAll(async () => {
  await client?.close();
  await consentDb?.end();
  await auditDb?.end();
  await t?.stop();
});

describe('faults under load', () => {
  it(
    'a provider, the PDP, the CE and FUDI killed and PostgreSQL restarted under load: nothing hangs, nothing is released without its gate or its audit record, and the OE recovers within 10 s of each',
    async () => {
      const before = await snapshot();
      const answers: LoadAnswer[] = [];
      let stopped = false;
      const next = roundRobin(nics);
      const load = closedLoop(
        IN_FLIGHT,
        () => client.query(next()),
        answers,
        () => stopped,
      );
      const reports: FaultReport[] = [];
      /** Answers that released while the PDP was down but its lease ran: each must be a table decision. */
      const withinLease: LoadAnswer[] = [];
      try {
        for (let round = 1; round <= ROUNDS; round++)
          for (const fault of FAULTS) reports.push(await inject(fault, round, answers));
        // Load after the last recovery, long enough to see whether the audit writer has settled.
        await sleep(LOAD_AFTER_LAST_FAULT_MS);
      } finally {
        stopped = true;
        await load;
      }

      report(
        [
          `faults under load: ${answers.length} answers, ${IN_FLIGHT} in flight, ${CITIZENS} citizens`,
          'fault                    round  down ms  outage answers  error rate  recovery ms (after ready)',
          ...reports.map((r) =>
            [
              r.fault.padEnd(24),
              String(r.round).padStart(5),
              String(Math.round(r.restartAt - r.downAt)).padStart(8),
              String(r.outage.length).padStart(15),
              `${((100 * r.failed) / Math.max(1, r.affected)).toFixed(1)}%`.padStart(11),
              String(Math.round(r.firstGoodAt - r.upAt)).padStart(12),
            ].join(' '),
          ),
        ].join('\n'),
      );

      for (const r of reports.filter((x) => !(x.firstGoodAt - x.upAt < RECOVERY_BOUND_MS)))
        report(diagnose(r, answers));

      // After PostgreSQL's restart the audit writer reloads its chain head once per batch that failed or was chained
      // on one that failed, and once when a batch took the chain's lock before the one it was chained after (the
      // writer now holds a batch back until the one before it has sent its append, or finished when that went out
      // on a new connection: 5 to 11 such retries within 5 s of recovery before, 2 after). Reported with their
      // errors, not asserted.
      const writer = auditWriterLines();
      reports.forEach((r, i) => {
        if (r.fault !== 'postgres') return;
        const until = reports[i + 1]?.downAt ?? Number.POSITIVE_INFINITY;
        const inRound = writer.filter((w) => w.at >= r.downAt && w.at < until);
        const warned = inRound.filter((w) => w.kind === 'head moved').map((w) => w.at);
        const last = warned.length > 0 ? Math.round(Math.max(...warned) - r.firstGoodAt) : undefined;
        // Per kind and error: how many, and when the first was (relative to the first good answer).
        const byError = new Map<string, { n: number; firstMs: number }>();
        for (const w of inRound) {
          const seen = byError.get(`${w.kind}: ${w.err}`);
          if (seen) seen.n += 1;
          else byError.set(`${w.kind}: ${w.err}`, { n: 1, firstMs: Math.round(w.at - r.firstGoodAt) });
        }
        report(
          [
            `postgres round ${r.round}: ${warned.length} "audit chain head moved" warnings` +
              (last === undefined ? '' : `, the last ${last} ms after the first good answer`),
            ...[...byError].map(([what, { n, firstMs }]) => `  ${n} x ${what} (the first at ${firstMs} ms)`),
          ].join('\n'),
        );
      });

      // Nothing hung: every request has its answer, none was cut off by the client's timeout.
      expect(answers.filter((a) => a.timedOut).map((a) => a.failure)).toEqual([]);

      for (const r of reports) {
        const label = `${r.fault} (round ${r.round})`;
        // The fault was felt (the outage is not vacuous), and the OE came back by itself in time.
        expect(r.outage.length, label).toBeGreaterThan(0);
        expect(r.firstGoodAt - r.upAt, `${label}: recovery after ready`).toBeLessThan(RECOVERY_BOUND_MS);
        if (r.fault === 'rgd-api') {
          // The healthy provider keeps flowing; the dead one's fields are null with a provider error.
          const withDrp = r.outage.filter((a) => DRP_LEAVES.every((leaf) => a.released.includes(leaf)));
          expect(withDrp.length, `${label}: DRP fields flowing`).toBeGreaterThan(r.outage.length / 2);
          for (const a of r.outage) {
            expect(
              a.released.filter((leaf) => RGD_LEAVES.includes(leaf)),
              label,
            ).toEqual([]);
            if (a.status === 200)
              for (const leaf of RGD_LEAVES)
                expect(['PROVIDER_UNAVAILABLE', 'PROVIDER_ERROR'], `${label} ${leaf}`).toContain(
                  a.errors[leaf],
                );
          }
        }
        if (r.fault === 'consent-engine' || r.fault === 'postgres') {
          // Every field of the passport query needs the CE's consent (and, like any release, an audit record):
          // nothing at all is released while the CE or the database is down.
          for (const a of r.outage) expect(a.released, `${label}: answer during the outage`).toEqual([]);
        }
        if (r.fault === 'policy-decision-point') {
          const afterLease = r.outage.filter((a) => a.started > r.downAt + PDP_LEASE_MS + LEASE_MARGIN_MS);
          expect(afterLease.length, label).toBeGreaterThan(0);
          for (const a of afterLease) expect(a.released, `${label}: answer after the lease`).toEqual([]);
          withinLease.push(...r.outage.filter((a) => !afterLease.includes(a) && a.released.length > 0));
        }
      }

      // Every released value has its audit record (the record of the reference the answer carried).
      const releasing = answers.filter((a) => a.released.length > 0);
      expect(releasing.length).toBeGreaterThan(0);
      expect(releasing.filter((a) => a.reference === null).length).toBe(0);
      const { rows } = await auditDb.query<{
        reference: string;
        citizen_id: string;
        decision_id: string | null;
        fields_released: { providerKey: string; field: string }[];
      }>(
        'SELECT reference, citizen_id, decision_id, fields_released FROM audit_log WHERE reference = ANY($1)',
        [answers.map((a) => a.reference).filter((r): r is string => r !== null)],
      );
      const byReference = new Map(rows.map((r) => [r.reference, r]));
      // No audit record lost: every reference an answer carried is in the log.
      const missing = answers.filter((a) => a.reference !== null && !byReference.has(a.reference));
      expect(missing.map((a) => a.reference)).toEqual([]);
      for (const a of withinLease)
        expect(
          byReference.get(a.reference!)?.decision_id,
          `${a.reference}: released without the PDP`,
        ).toMatch(/^table:/);
      for (const a of releasing) {
        const record = byReference.get(a.reference!)!;
        expect(record.citizen_id).toBe(a.nic);
        const audited = record.fields_released.map((f) => `${f.providerKey} ${f.field}`);
        for (const leaf of a.released)
          expect(audited, `${a.reference} ${leaf}`).toContain(PASSPORT_LEAVES[leaf]);
      }

      // No consent or audit record lost or changed; the audit chains verify.
      const after = await snapshot();
      expect({ consents: after.consents, events: after.events, digest: after.digest }).toEqual({
        consents: before.consents,
        events: before.events,
        digest: before.digest,
      });
      expect(after.audit).toBeGreaterThanOrEqual(before.audit + byReference.size);
      const verify = await auditVerify();
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      expect(verify.stdout).toMatch(/audit log intact: \d+ records verified/);
      const verified = Number(/audit log intact: (\d+) records verified/.exec(verify.stdout)![1]);
      expect(verified).toBe(after.audit);
    },
    120_000 * ROUNDS + 60_000,
  );
});
