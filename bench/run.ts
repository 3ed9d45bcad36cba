/**
 * The benchmark of issue 12 (`npm run bench`; not a test): NDX against the direct path and a plain gateway,
 * side by side, in one run, on the real stack as ./init.sh starts it.
 *
 *   npm run bench                 full form (100,000 citizens, sweep 8/32/128/256, scale to 1M consents and 10M audit rows)
 *   npm run bench -- --quick      smoke form (~3 minutes: smaller sweep and sizes)
 *   npm run bench -- --profile    also runs the OE and the CE with --cpu-prof and prints their top self-time functions
 *   npm run bench -- --quick --connections 8,256   another closed-loop sweep (e.g. the full form's peak in a quick run)
 *
 * Writes bench/results/<timestamp>.json and .md (and latest.json / latest.md). See bench/README.md.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseNic } from '@ndx/contract';
import { createLogger, createPool } from '@ndx/service-kit';
import type { Pool } from 'pg';
import type { ServiceName } from '@ndx/stack';
import { generateCitizens } from '@ndx/synthetic-data';
import { openAuditScale } from './support/audit-scale.ts';
import { fillConsentHistory, grantConsents, measureConsentCheck } from './support/consents.ts';
import { closedLoop, openLoop, type Call, type WindowResult } from './support/loops.ts';
import { meansBetween, memoryBreakdown } from './support/metrics.ts';
import { buildPaths, cachedToken, clientCredentials, target, type GraphqlTarget } from './support/paths.ts';
import { composeSupergraph, startGateway, type RunningGateway } from './support/peer.ts';
import { measureCpu, sampleRss, trackPid, trackPostgres, trackSelf, type Tracked } from './support/procfs.ts';
import { topSelfTime } from './support/profile.ts';
import { emptyResults, report, type BenchResults, type PathName } from './support/report.ts';
import { repoRoot, startBenchStack, type BenchStack } from './support/stack.ts';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    /** The closed loop's concurrencies instead of the form's, e.g. `--connections 8,256`. */
    connections: { type: 'string' },
  },
});

const settings = flags.quick
  ? {
      form: 'quick',
      citizens: 20_000,
      consented: 5_000,
      concurrencies: [8, 64],
      warmupSeconds: 2,
      windowSeconds: 4,
      openLoopSeconds: 5,
      consentsLarge: 100_000,
      consentFillBudgetMs: 60_000,
      auditSmall: 20_000,
      auditLarge: 200_000,
      auditFillBudgetMs: [30_000, 60_000],
      samples: 300,
      sampleBudgetMs: 15_000,
    }
  : {
      form: 'full',
      citizens: 100_000,
      consented: 10_000,
      concurrencies: [8, 32, 128, 256],
      warmupSeconds: 4,
      windowSeconds: 8,
      openLoopSeconds: 10,
      consentsLarge: 1_000_000,
      consentFillBudgetMs: 150_000,
      auditSmall: 100_000,
      auditLarge: 10_000_000,
      auditFillBudgetMs: [45_000, 150_000],
      samples: 1_000,
      sampleBudgetMs: 25_000,
    };
if (flags.connections) {
  const asked = flags.connections.split(',').map(Number);
  if (asked.some((n) => !Number.isInteger(n) || n < 1 || n > 1_024)) {
    throw new Error(`--connections takes a comma-separated list of 1 to 1024, not ${flags.connections}`);
  }
  settings.concurrencies = asked;
}
/** Bounds of the steps that are not windows: each stops (with what it did) or fails the run (reported). */
const STEP_BOUND_MS = { grant: 120_000, peer: 180_000, check: 60_000 };
const LOG_LEVEL = 'warn';
const logger = createLogger('bench', { level: 'warn' });

const began = performance.now();
const log = (line: string) =>
  console.log(`[${((performance.now() - began) / 1000).toFixed(0).padStart(4)} s] ${line}`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** `work`, or a failure naming `step` when it takes longer than `ms`. */
async function bounded<T>(step: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${step}: not done after ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** `count` distinct members of `list`, drawn at random. */
function sample<T>(list: readonly T[], count: number): T[] {
  const copy = [...list];
  const n = Math.min(count, copy.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(Math.random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, n);
}

/** Citizens known consistently to both RGD and DRP (canonical NICs, as the OE sends them). */
function knownCitizens(count: number): string[] {
  const nics: string[] = [];
  for (const citizen of generateCitizens({ citizens: count })) {
    if (!citizen.person || citizen.person.nic !== citizen.birth.nic) continue;
    const nic = parseNic(citizen.birth.nic);
    if (nic) nics.push(nic);
  }
  return nics;
}

const results: BenchResults = emptyResults({
  startedAt: new Date().toISOString(),
  form: settings.form,
  settings,
  machine: { cpus: availableParallelism(), node: process.version },
  logLevel: LOG_LEVEL,
});
let reported = false;
/** Set by Ctrl-C (SIGINT) or SIGTERM. */
let stopping = false;
/** Writes the report once: the whole run's, or what was measured before `incomplete` happened. */
async function finish(incomplete?: string): Promise<void> {
  if (reported) return;
  reported = true;
  if (incomplete) results.incomplete = incomplete;
  try {
    await report(results, (performance.now() - began) / 1000);
  } catch (err) {
    console.error(`could not write the report: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function main(): Promise<void> {
  const profileDir = flags.profile ? join(repoRoot, 'bench/results', `profile-${Date.now()}`) : undefined;
  if (profileDir) await mkdir(profileDir, { recursive: true });
  log(
    `NDX benchmark, ${settings.form} form: stack with ${settings.citizens} citizens, service log level ${LOG_LEVEL}` +
      (profileDir ? `, OE and CE under --cpu-prof (${profileDir})` : ''),
  );
  const gateways: RunningGateway[] = [];
  const targets: GraphqlTarget[] = [];
  const started: { stack?: BenchStack; scratch?: string } = {};
  const stopAll = async () => {
    await Promise.allSettled(targets.map((t) => t.close()));
    await Promise.allSettled(gateways.map((g) => g.stop()));
    await started.stack?.stop().catch(() => undefined);
    if (started.scratch) await rm(started.scratch, { recursive: true, force: true });
  };
  // Ctrl-C (or a kill): the report of what was measured so far, then stop what this run started.
  const onSignal = (signal: NodeJS.Signals) => {
    stopping = true;
    log(`${signal}: writing the partial report, then stopping the gateways and the stack`);
    const report = finish(`stopped by ${signal}`);
    // While the stack starts, there is nothing to stop yet: main stops it as soon as it is up.
    if (started.stack) void report.then(stopAll).finally(() => process.exit(130));
  };
  const listen = () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, onSignal);
  };
  listen();
  const stack = await startBenchStack({
    citizens: settings.citizens,
    logLevel: LOG_LEVEL,
    nodeArgs: profileDir
      ? {
          'orchestration-engine': ['--cpu-prof', `--cpu-prof-dir=${profileDir}/orchestration-engine`],
          'consent-engine': ['--cpu-prof', `--cpu-prof-dir=${profileDir}/consent-engine`],
        }
      : undefined,
    print: (line) => log(`stack: ${line}`),
  });
  started.stack = stack;
  // The embedded PostgreSQL's own exit hook (async-exit-hook) would stop it and exit at once, leaving the
  // services running: from here on, this run's handler alone stops everything, services first (as the
  // stack's CLI does).
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  listen();
  if (stopping) {
    log('stopping the stack that was starting when the run was stopped');
    await stack.stop();
    process.exit(130);
  }
  const scratch = await mkdtemp(join(tmpdir(), 'ndx-bench-peer-'));
  started.scratch = scratch;
  const consentDb = createPool(stack.databaseUrl('ndx_consent'), logger, {
    max: 2,
    statementTimeoutMs: 600_000,
  });
  try {
    await measureAll(stack, consentDb, gateways, targets, scratch);
  } catch (err) {
    if (stopping) return;
    const message = err instanceof Error ? err.message : String(err);
    console.error(`benchmark failed: ${err instanceof Error ? (err.stack ?? message) : message}`);
    await finish(`failed: ${message}`);
    process.exitCode = 1;
  } finally {
    if (!stopping) {
      await consentDb.end().catch(() => undefined);
      await stopAll();
    }
  }
  if (stopping) return;
  if (profileDir) {
    results.profile = await topSelfTime(join(profileDir, 'orchestration-engine'));
    results.ceProfile = await topSelfTime(join(profileDir, 'consent-engine'));
  }
  await finish();
}

async function measureAll(
  stack: BenchStack,
  consentDb: Pool,
  gateways: RunningGateway[],
  targets: GraphqlTarget[],
  scratch: string,
): Promise<void> {
  const all = knownCitizens(settings.citizens);
  const consented = sample(all, settings.consented);
  results.citizens = all.length;
  await bounded('granting consents', STEP_BOUND_MS.grant, grantConsents(consentDb, consented));
  results.consented = consented.length;
  log(`${consented.length} random citizens (of ${all.length}) given an ACTIVE passport consent`);

  const rgdToken = cachedToken(() =>
    clientCredentials(`${stack.url('rgd-api')}/oauth2/token`, 'ndx', stack.secret('rgd.client.ndx')),
  );
  const fudi = (clientId: string, resource: string) =>
    cachedToken(() =>
      clientCredentials(
        `${stack.url('identity-provider')}/token`,
        clientId,
        stack.secret(`fudi.client.${clientId}`),
        { resource },
      ),
    );
  const passportToken = fudi('passport-app', 'urn:ndx:api');
  const oeConsentToken = fudi('orchestration-engine', 'urn:ndx:consent');
  const drpApiKey = stack.secret('drp.adapter-api-key');

  const supergraph = join(scratch, 'supergraph.graphql');
  await bounded(
    'composing the supergraph and starting Hive Gateway',
    STEP_BOUND_MS.peer,
    (async () => {
      await composeSupergraph(supergraph, stack.url('rgd-api'), stack.url('drp-api-adapter'));
      for (const dedup of [true, false]) {
        gateways.push(
          await startGateway({
            supergraphFile: supergraph,
            port: await freePort(),
            dedup,
            rgdToken: await rgdToken(),
            drpApiKey,
          }),
        );
      }
    })(),
  );
  log('Hive Gateway started twice (in-flight deduplication on, off): production mode, one process each');

  const [oe, rgd, drp, peerOn, peerOff] = [
    target(stack.url('orchestration-engine')),
    target(stack.url('rgd-api')),
    target(stack.url('drp-api-adapter')),
    target(gateways[0]!.url),
    target(gateways[1]!.url),
  ];
  targets.push(oe, rgd, drp, peerOn, peerOff);
  const built = buildPaths({
    citizens: consented,
    rgd,
    drp,
    oe,
    peerOn,
    peerOff,
    rgdToken,
    drpApiKey,
    passportToken,
  });
  const paths: [PathName, Call][] = [
    ['direct', built.direct],
    ['ndx', built.ndx],
    ['peer (dedup on)', built.peerDedupOn],
    ['peer (dedup off)', built.peerDedupOff],
  ];
  await bounded(
    'checking every path',
    STEP_BOUND_MS.check,
    (async () => {
      for (const [name, call] of paths) {
        for (let i = 0; i < 20; i++) {
          if (!(await call())) throw new Error(`the ${name} path does not return the full record`);
        }
      }
    })(),
  );
  log('every path returns the full record for random consented citizens');

  const service = (name: ServiceName) => trackPid(name, stack.pid(name));
  const tracked: Tracked[] = [
    service('orchestration-engine'),
    service('policy-decision-point'),
    service('consent-engine'),
    service('identity-provider'),
    service('rgd-api'),
    service('drp-api-adapter'),
    service('drp-api'),
    trackPid('hive-gateway (dedup on)', gateways[0]!.pid),
    trackPid('hive-gateway (dedup off)', gateways[1]!.pid),
    trackPostgres(stack.postgresDataDir),
    trackSelf(),
  ];

  const noteRss = (path: string, sampled: Record<string, number>) => {
    const into = (results.maxRssMb[path] ??= {});
    for (const [name, mb] of Object.entries(sampled)) into[name] = Math.max(into[name] ?? 0, mb);
  };
  type Measured = { window: WindowResult; cpuSeconds: Record<string, number> };
  const measure = async (path: string, run: () => Promise<WindowResult>): Promise<Measured> => {
    const { result, maxRssMb: sampled } = await sampleRss(tracked, () => measureCpu(tracked, run));
    noteRss(path, sampled);
    return { window: result.result, cpuSeconds: result.cpuSeconds };
  };
  const notePeaks = () => {
    for (const t of tracked) results.peakMb[t.name] = t.peakMb();
  };

  log(`warm-up: ${settings.warmupSeconds} s per path at 32 connections`);
  for (const [, call] of paths) await closedLoop(call, 32, settings.warmupSeconds);

  const oeMetrics = async () =>
    (
      await fetch(`${stack.url('orchestration-engine')}/metrics`, { signal: AbortSignal.timeout(10_000) })
    ).text();
  const addMeans = (
    into: Record<string, { count: number; meanMs: number }>,
    means: Record<string, { count: number; meanMs: number }>,
  ) => {
    for (const [key, { count, meanMs }] of Object.entries(means)) {
      const sum = (into[key] ??= { count: 0, meanMs: 0 });
      const total = sum.count + count;
      sum.meanMs = total ? (sum.count * sum.meanMs + count * meanMs) / total : 0;
      sum.count = total;
    }
  };

  for (const connections of settings.concurrencies) {
    // The paths take turns at each concurrency, so a change in the machine's load hits them alike.
    for (const [name, call] of paths) {
      const before = name === 'ndx' ? await oeMetrics() : '';
      const measured = await measure(name, () => closedLoop(call, connections, settings.windowSeconds));
      if (name === 'ndx') {
        const after = await oeMetrics();
        addMeans(results.stages, meansBetween(before, after, 'ndx_stage_duration_seconds', 'stage'));
        addMeans(results.providers, meansBetween(before, after, 'ndx_provider_duration_seconds', 'provider'));
        (results.oeMemory ??= []).push({ connections, ...memoryBreakdown(after) });
      }
      results.sweep.push({ path: name, connections, ...measured });
      notePeaks();
      const w = measured.window;
      log(
        `closed loop ${String(connections).padStart(3)} connections  ${name.padEnd(17)} ` +
          `${w.requestsPerSecond.toFixed(0).padStart(5)} req/s  p50 ${w.p50.toFixed(1)} ms  p99 ${w.p99.toFixed(1)} ms` +
          (w.failures ? `  ${w.failures} FAILED` : ''),
      );
    }
  }

  const ndxMax = Math.max(
    ...results.sweep.filter((s) => s.path === 'ndx').map((s) => s.window.requestsPerSecond),
  );
  results.rate = Math.max(1, Math.round(ndxMax / 2));
  for (const [name, call] of paths) {
    const measured = await measure(name, () => openLoop(call, results.rate, settings.openLoopSeconds));
    results.openLoop.push({ path: name, rate: results.rate, ...measured });
    notePeaks();
    const w = measured.window;
    log(
      `open loop ${results.rate} req/s  ${name.padEnd(17)} p50 ${w.p50.toFixed(1)} ms  p99 ${w.p99.toFixed(1)} ms` +
        (w.failures ? `  ${w.failures} FAILED` : ''),
    );
  }
  for (const gateway of gateways) await gateway.stop();

  // Scale: consent checks at the small size (the consents above), then at the large size. Each step
  // has a time bound: a fill reports the size it reached, a measurement the samples it took.
  const countConsents = async () =>
    Number((await consentDb.query<{ n: string }>('SELECT count(*) AS n FROM consents')).rows[0]!.n);
  const checkAt = async () => {
    const rows = await countConsents();
    const latency = await measureConsentCheck(
      stack.url('consent-engine'),
      oeConsentToken,
      consented,
      settings.samples,
      performance.now() + settings.sampleBudgetMs,
    );
    results.scale.consent.push({ rows, latency });
    log(
      `consent check at ${rows} consents (${latency.samples} samples): ` +
        `p50 ${latency.p50.toFixed(2)} ms  p99 ${latency.p99.toFixed(2)} ms`,
    );
  };
  await checkAt();
  const t0 = performance.now();
  const reached = await fillConsentHistory(
    consentDb,
    all,
    settings.consentsLarge,
    performance.now() + settings.consentFillBudgetMs,
    (rows) => log(`  consents: ${rows}`),
  );
  const fillSeconds = (performance.now() - t0) / 1000;
  log(
    `${reached} consents in the CE's database (${fillSeconds.toFixed(0)} s to insert` +
      (reached < settings.consentsLarge
        ? `; the ${settings.consentFillBudgetMs / 1000} s bound stopped it short of ${settings.consentsLarge})`
        : ')'),
  );
  results.scale.consentFill = { target: settings.consentsLarge, rows: reached, seconds: fillSeconds };
  await checkAt();

  const audit = await bounded(
    'creating the scratch audit database',
    STEP_BOUND_MS.check,
    openAuditScale(stack.adminUrl, all),
  );
  try {
    const sizes = [settings.auditSmall, settings.auditLarge];
    for (const [n, size] of sizes.entries()) {
      const budgetMs = settings.auditFillBudgetMs[n]!;
      const started = performance.now();
      const rows = await audit.fill(size, budgetMs, (count) => log(`  audit rows: ${count}`));
      const fillSeconds = (performance.now() - started) / 1000;
      if (rows < size) log(`audit fill stopped at ${rows} rows: the ${budgetMs / 1000} s bound`);
      const append = await audit.measureAppend(settings.samples, performance.now() + settings.sampleBudgetMs);
      const accessLog = await audit.measureAccessLog(
        Math.min(500, settings.samples),
        performance.now() + settings.sampleBudgetMs / 2,
      );
      results.scale.audit.push({ target: size, rows: await audit.rows(), fillSeconds, append, accessLog });
      log(
        `audit append at ${rows} rows (${append.samples} samples): p50 ${append.p50.toFixed(2)} ms  ` +
          `p99 ${append.p99.toFixed(2)} ms; access-log page p99 ${accessLog.p99.toFixed(2)} ms`,
      );
    }
  } finally {
    await audit.close();
  }
}

main().catch(async (err: unknown) => {
  if (stopping) process.exit(130); // the stack that was starting failed because it was stopped
  console.error(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  await finish(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
