/**
 * Benchmark of the Orchestration Engine with the passport query: the real stack as ./init.sh starts
 * it (FUDI, PDP, CE, RGD, DRP and its adapter, DMT, audit on PostgreSQL), a demo citizen's consent
 * approved in the real portal, then autocannon on /graphql (bounded in time and connections).
 * Prints requests/s, p50/p97.5/p99 latency and the per-stage breakdown from the OE's /metrics.
 * Not a test.   Run: node bench/orchestration.bench.ts [--seconds 15] [--connections 10]
 */
import { parseArgs } from 'node:util';
import { demoCitizens } from '@ndx/synthetic-data';
import { decideInPortal } from '../tests/support/consent-portal.ts';
import { startTestStack } from '../tests/support/test-stack.ts';
import { runLoad } from './support/load.ts';
import { delta, histograms, type Histogram } from './support/metrics.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    connections: { type: 'string', default: '10' },
  },
});
const seconds = Math.min(Math.max(Number(values.seconds), 1), 60);
const connections = Math.min(Math.max(Number(values.connections), 1), 100);

const PASSPORT_QUERY = `query Passport($nic: ID!) {
  personInfo(nic: $nic) {
    fullName name otherNames address profession dateOfBirth sex
    birthInfo { birthRegistrationNumber birthPlace district }
  }
}`;
const amara = demoCitizens.find((c) => c.nic === '199560201234')!;

/** The upper bound of the bucket holding the p-th percentile (a histogram gives no finer answer). */
function bucketPercentile(h: Histogram, p: number): string {
  const target = (p / 100) * h.count;
  for (const [le, n] of [...h.buckets].sort((a, b) => a[0] - b[0])) {
    if (n >= target) return le === Infinity ? '> max' : `≤ ${fmtMs(le * 1000)}`;
  }
  return '?';
}

const fmtMs = (ms: number) => (ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(1)} ms`);

function breakdown(title: string, before: string, after: string, name: string, label: string): void {
  const start = histograms(before, name, label);
  console.log(`\n${title}`);
  console.log(`  ${label.padEnd(16)} calls     mean        p50 bucket     p99 bucket`);
  for (const [key, series] of histograms(after, name, label)) {
    const h = delta(series, start.get(key));
    if (h.count <= 0) continue;
    console.log(
      `  ${key.padEnd(16)} ${String(h.count).padStart(6)}  ${fmtMs((h.sum / h.count) * 1000).padStart(10)}  ` +
        `${bucketPercentile(h, 50).padStart(13)}  ${bucketPercentile(h, 99).padStart(13)}`,
    );
  }
}

const t = await startTestStack({ only: ['orchestration-engine'] });
try {
  const oe = t.url('orchestration-engine');
  const token = await t.clientToken('passport-app', 'urn:ndx:api');
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const body = JSON.stringify({ query: PASSPORT_QUERY, variables: { nic: amara.nic } });
  const query = async () =>
    (await (await fetch(`${oe}/graphql`, { method: 'POST', headers, body })).json()) as {
      data?: { personInfo?: Record<string, unknown> };
      errors?: { extensions: { code: string; consentPortalUrl?: string } }[];
    };

  const first = await query();
  const pending = first.errors?.find((e) => e.extensions.code === 'CONSENT_REQUIRED');
  if (pending) {
    const decided = await decideInPortal({
      consentPortalUrl: pending.extensions.consentPortalUrl!,
      redirectUri: `${t.url('passport-app')}/consent/return`,
      nic: amara.nic,
      password: amara.password,
      decision: 'approve-all',
    });
    if (decided.status !== 'ACTIVE') throw new Error(`consent not approved: ${decided.status}`);
  }
  const check = await query();
  if (check.errors?.length || check.data?.personInfo?.['name'] !== amara.birthName) {
    throw new Error(`the passport query does not return the merged record: ${JSON.stringify(check)}`);
  }
  for (let i = 0; i < 50; i++) await query(); // warm-up: JIT, connection pools, token caches

  const before = await (await fetch(`${oe}/metrics`)).text();
  const result = await runLoad({
    url: `${oe}/graphql`,
    method: 'POST',
    headers,
    body,
    connections,
    duration: seconds,
  });
  const after = await (await fetch(`${oe}/metrics`)).text();

  const failures = result.non2xx + result.errors + result.timeouts;
  console.log(
    `passport query (RGD + DRP, consent present), ${seconds} s, ${connections} connections, one OE process:\n` +
      `  ${result.requests.total} requests, ${result.requests.average.toFixed(0)} requests/s, ` +
      `latency p50 ${result.latency.p50} ms, p97.5 ${result.latency.p97_5} ms, p99 ${result.latency.p99} ms, ` +
      `failures ${failures}`,
  );
  breakdown(
    'OE stages (ndx_stage_duration_seconds; gate = pdp + ce):',
    before,
    after,
    'ndx_stage_duration_seconds',
    'stage',
  );
  breakdown(
    'providers (ndx_provider_duration_seconds):',
    before,
    after,
    'ndx_provider_duration_seconds',
    'provider',
  );
} finally {
  await t.stop();
}
