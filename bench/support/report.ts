import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LatencySummary } from './consents.ts';
import type { WindowResult } from './loops.ts';
import type { MemoryBreakdown } from './metrics.ts';
import type { SelfTime } from './profile.ts';
import { repoRoot } from './stack.ts';

export type PathName = 'direct' | 'ndx' | 'peer (dedup on)' | 'peer (dedup off)';
const PATHS: PathName[] = ['direct', 'ndx', 'peer (dedup on)', 'peer (dedup off)'];

export interface BenchResults {
  /** Set when the run stopped early (Ctrl-C, a failure): the report holds what was measured before. */
  incomplete?: string;
  startedAt: string;
  form: string;
  settings: Record<string, unknown>;
  machine: { cpus: number; node: string };
  logLevel: string;
  citizens: number;
  consented: number;
  sweep: { path: PathName; connections: number; window: WindowResult; cpuSeconds: Record<string, number> }[];
  openLoop: { path: PathName; rate: number; window: WindowResult; cpuSeconds: Record<string, number> }[];
  /** The open loop's arrival rate: half of NDX's best closed-loop throughput. */
  rate: number;
  /** Largest VmRSS sampled per process while each path ran (MB). */
  maxRssMb: Record<string, Record<string, number>>;
  /** VmHWM of each process at the end of the load (MB): its peak since it started. */
  peakMb: Record<string, number>;
  stages: Record<string, { count: number; meanMs: number }>;
  providers: Record<string, { count: number; meanMs: number }>;
  scale: {
    consent: { rows: number; latency: LatencySummary }[];
    /** The bulk consent history: the size asked, the size reached within its bound, the time it took. */
    consentFill?: { target: number; rows: number; seconds: number };
    audit: {
      target: number;
      rows: number;
      fillSeconds: number;
      append: LatencySummary;
      accessLog: LatencySummary;
    }[];
  };
  profile: { file: string; top: SelfTime[] } | undefined;
  /** The OE's memory by its own /metrics, read just after each of its closed-loop windows. */
  oeMemory?: ({ connections: number } & MemoryBreakdown)[];
  /** The CE's profile, when the OE's is taken (--profile). */
  ceProfile?: { file: string; top: SelfTime[] };
}

/** A run's results before anything is measured (filled in as the run goes). */
export function emptyResults(
  start: Pick<BenchResults, 'startedAt' | 'form' | 'settings' | 'machine' | 'logLevel'>,
): BenchResults {
  return {
    ...start,
    citizens: 0,
    consented: 0,
    sweep: [],
    openLoop: [],
    rate: NaN,
    maxRssMb: {},
    peakMb: {},
    stages: {},
    providers: {},
    scale: { consent: [], audit: [] },
    profile: undefined,
  };
}

/** The processes each path's requests go through (the others idle while it runs). */
const PATH_PROCESSES: Record<PathName, string[]> = {
  direct: ['rgd-api', 'drp-api-adapter', 'drp-api', 'postgresql'],
  ndx: [
    'orchestration-engine',
    'policy-decision-point',
    'consent-engine',
    'identity-provider',
    'rgd-api',
    'drp-api-adapter',
    'drp-api',
    'postgresql',
  ],
  'peer (dedup on)': ['hive-gateway (dedup on)', 'rgd-api', 'drp-api-adapter', 'drp-api', 'postgresql'],
  'peer (dedup off)': ['hive-gateway (dedup off)', 'rgd-api', 'drp-api-adapter', 'drp-api', 'postgresql'],
};
const PROCESSES = [
  'orchestration-engine',
  'policy-decision-point',
  'consent-engine',
  'identity-provider',
  'hive-gateway (dedup on)',
  'hive-gateway (dedup off)',
  'rgd-api',
  'drp-api-adapter',
  'drp-api',
  'postgresql',
  'load generator',
];
const OE_RSS_LIMIT_MB = 250;

const n0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-GB') : '–');
const ms = (x: number) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(1)) : '–');
const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');
const table = (head: string[], rows: string[][]) =>
  [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

function throughputAt(r: BenchResults, path: PathName, connections: number): number {
  return (
    r.sweep.find((s) => s.path === path && s.connections === connections)?.window.requestsPerSecond ?? NaN
  );
}
function best(r: BenchResults, path: PathName): number {
  const windows = r.sweep.filter((s) => s.path === path);
  return windows.length ? Math.max(...windows.map((s) => s.window.requestsPerSecond)) : NaN;
}
/** `ok` when every figure it depends on was measured, else undefined (NOT MEASURED). */
const measured = (ok: boolean, ...figures: number[]) =>
  figures.every((x) => Number.isFinite(x)) ? ok : undefined;

interface Target {
  name: string;
  met: boolean | undefined;
  detail: string;
}

function targets(r: BenchResults): Target[] {
  const direct = best(r, 'direct');
  const ndx = best(r, 'ndx');
  const peerOn = best(r, 'peer (dedup on)');
  const peerOff = best(r, 'peer (dedup off)');
  const peer = Math.max(peerOn, peerOff);
  const open = (p: PathName) => r.openLoop.find((o) => o.path === p)?.window.p99 ?? NaN;
  const p99Limit = 2 * open('direct') + 5;
  const growth = (list: LatencySummary[]) => (list.length < 2 ? NaN : list.at(-1)!.p99 / list[0]!.p99);
  const consentGrowth = growth(r.scale.consent.map((c) => c.latency));
  const auditGrowth = growth(r.scale.audit.map((a) => a.append));
  const consentSizes = r.scale.consent.map((c) => n0(c.rows)).join(' → ');
  const auditSizes = r.scale.audit.map((a) => n0(a.rows)).join(' → ');
  // The large audit size is bounded by time: when its fill stopped short, the growth still counts if the
  // size reached is at least ten times the small size asked (the detail says how far it got).
  const lastAudit = r.scale.audit.at(-1);
  const auditCut = lastAudit !== undefined && lastAudit.rows < lastAudit.target;
  const auditShort = r.scale.audit.length < 2 || (auditCut && lastAudit.rows < 10 * r.scale.audit[0]!.target);
  const oe = r.peakMb['orchestration-engine'] ?? NaN;
  return [
    {
      name: 'NDX throughput ≥ 0.6 × direct (aim 0.75)',
      met: measured(ndx >= 0.6 * direct, ndx, direct),
      detail: `best ${n0(ndx)} vs ${n0(direct)} req/s = ${ratio(ndx / direct)}${ndx >= 0.75 * direct ? ' (aim met)' : ''}`,
    },
    {
      name: 'NDX throughput ≥ 1.5 × the peer gateway (the faster of dedup on/off)',
      met: measured(ndx >= 1.5 * peer, ndx, peer),
      detail: `best ${n0(ndx)} vs ${n0(peer)} req/s = ${ratio(ndx / peer)} (dedup on ${n0(peerOn)}, off ${n0(peerOff)})`,
    },
    {
      name: 'NDX p99 at half load ≤ 2 × direct p99 + 5 ms',
      met: measured(open('ndx') <= p99Limit, open('ndx'), p99Limit),
      detail: `${ms(open('ndx'))} ms vs limit ${ms(p99Limit)} ms (direct p99 ${ms(open('direct'))} ms) at ${n0(r.rate)} req/s`,
    },
    {
      name: 'consent check p99 grows < 2×',
      met: Number.isFinite(consentGrowth) ? consentGrowth < 2 : undefined,
      detail: `${consentSizes} consents: p99 ${r.scale.consent.map((c) => ms(c.latency.p99)).join(' → ')} ms = ${ratio(consentGrowth)}`,
    },
    {
      name: 'audit append p99 grows < 2×',
      met: auditShort ? undefined : auditGrowth < 2,
      detail:
        `${auditSizes} rows: p99 ${r.scale.audit.map((a) => ms(a.append.p99)).join(' → ')} ms = ${ratio(auditGrowth)}` +
        (lastAudit && auditCut
          ? ` (${n0(lastAudit.target)} asked; the fill's time bound stopped it at ${n0(lastAudit.rows)})`
          : ''),
    },
    {
      name: `OE peak RSS < ${OE_RSS_LIMIT_MB} MB`,
      met: measured(oe < OE_RSS_LIMIT_MB, oe),
      detail: `${n0(oe)} MB (VmHWM, whole run)`,
    },
  ];
}

/** The whole report as markdown (printed as is, and kept for docs/performance.md). */
export function renderMarkdown(r: BenchResults, wallSeconds: number): string {
  const out: string[] = [];
  if (r.incomplete) {
    out.push(
      `**Partial report** (${r.incomplete}): only what was measured before that; the rest shows as – or NOT MEASURED.\n`,
    );
  }
  out.push(
    `Run ${r.startedAt}, ${r.form} form, ${Math.round(wallSeconds)} s wall clock; ${r.machine.cpus} CPUs, Node ${r.machine.node}; ` +
      `${n0(r.citizens)} citizens known to RGD and DRP, ${n0(r.consented)} of them (random) with an active passport consent, ` +
      `each request for a random one of those; services log at \`${r.logLevel}\`. Load generator, services and PostgreSQL share the machine.`,
  );

  out.push('\n### Throughput, closed loop (requests/s of complete answers; p99 ms in brackets)\n');
  const sweepRows = [...new Set(r.sweep.map((s) => s.connections))].map((c) => {
    const cell = (p: PathName) => {
      const w = r.sweep.find((s) => s.path === p && s.connections === c)?.window;
      return w
        ? `${n0(w.requestsPerSecond)} (${ms(w.p99)})${w.failures ? ` ⚠ ${w.failures} failed` : ''}`
        : '–';
    };
    const ndx = throughputAt(r, 'ndx', c);
    return [
      String(c),
      ...PATHS.map(cell),
      ratio(ndx / throughputAt(r, 'direct', c)),
      ratio(ndx / throughputAt(r, 'peer (dedup on)', c)),
      ratio(ndx / throughputAt(r, 'peer (dedup off)', c)),
    ];
  });
  sweepRows.push([
    '**best**',
    ...PATHS.map((p) => `**${n0(best(r, p))}**`),
    `**${ratio(best(r, 'ndx') / best(r, 'direct'))}**`,
    `**${ratio(best(r, 'ndx') / best(r, 'peer (dedup on)'))}**`,
    `**${ratio(best(r, 'ndx') / best(r, 'peer (dedup off)'))}**`,
  ]);
  out.push(table(['connections', ...PATHS, 'NDX/direct', 'NDX/peer (on)', 'NDX/peer (off)'], sweepRows));

  out.push(
    `\n### Latency at a fixed arrival rate of ${n0(r.rate)} requests/s (half of NDX's best; open loop, measured from each request's scheduled start)\n`,
  );
  out.push(
    table(
      ['path', 'achieved req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'failed'],
      r.openLoop.map((o) => [
        o.path,
        n0(o.window.requestsPerSecond),
        ms(o.window.p50),
        ms(o.window.p90),
        ms(o.window.p99),
        ms(o.window.max),
        String(o.window.failures),
      ]),
    ),
  );

  out.push(
    `\n### CPU per request at ${n0(r.rate)} requests/s (ms of CPU, user + system, per completed request; from /proc)\n`,
  );
  const cpuRows = PROCESSES.map((proc) => [
    proc,
    ...PATHS.map((p) => {
      const o = r.openLoop.find((x) => x.path === p);
      if (!o) return '–';
      const done = o.window.requests - o.window.failures;
      const onPath = PATH_PROCESSES[p].includes(proc) || proc === 'load generator';
      return onPath ? ms(((o.cpuSeconds[proc] ?? NaN) * 1000) / done) : '';
    }),
  ]);
  cpuRows.push([
    '**services on the path** (without the load generator)',
    ...PATHS.map((p) => {
      const o = r.openLoop.find((x) => x.path === p);
      if (!o) return '–';
      const done = o.window.requests - o.window.failures;
      const sum = PATH_PROCESSES[p].reduce((a, proc) => a + (o.cpuSeconds[proc] ?? 0), 0);
      return `**${ms((sum * 1000) / done)}**`;
    }),
  ]);
  out.push(table(['process', ...PATHS], cpuRows));

  out.push(
    '\n### Memory (MB): largest RSS sampled while each path ran; VmHWM = peak since the process started\n',
  );
  out.push(
    table(
      ['process', ...PATHS, 'VmHWM'],
      PROCESSES.filter((p) => p !== 'load generator').map((proc) => [
        proc,
        ...PATHS.map((p) => (PATH_PROCESSES[p].includes(proc) ? n0(r.maxRssMb[p]?.[proc] ?? NaN) : '')),
        n0(r.peakMb[proc] ?? NaN) + (proc === 'postgresql' ? ' (largest process)' : ''),
      ]),
    ),
  );

  out.push(
    "\n### Where NDX's time goes (OE `ndx_stage_duration_seconds`, mean over every NDX window of the sweep)\n",
  );
  const stageRows = Object.entries(r.stages)
    .sort((a, b) => b[1].meanMs - a[1].meanMs)
    .map(([stage, s]) => [stage, n0(s.count), ms(s.meanMs)]);
  for (const [provider, s] of Object.entries(r.providers)) {
    stageRows.push([`provider ${provider}`, n0(s.count), ms(s.meanMs)]);
  }
  out.push(table(['stage', 'observations', 'mean ms'], stageRows));

  out.push('\n### Scale\n');
  const fill = r.scale.consentFill;
  if (fill) {
    out.push(
      `Consent history generated: ${n0(fill.rows)} rows in ${Math.round(fill.seconds)} s` +
        (fill.rows < fill.target ? ` (bound reached; ${n0(fill.target)} asked)` : '') +
        '. Audit rows generated: ' +
        r.scale.audit.map((a) => `${n0(a.rows)} in ${Math.round(a.fillSeconds)} s`).join(', then ') +
        '.\n',
    );
  }
  out.push(
    table(
      ['operation', 'size', 'p50 ms', 'p99 ms', 'mean ms', 'samples'],
      [
        ...r.scale.consent.map((c) => [
          'consent check (CE `POST /v1/consents/check` over HTTP, OE token, one at a time)',
          `${n0(c.rows)} consents`,
          ms(c.latency.p50),
          ms(c.latency.p99),
          ms(c.latency.mean),
          n0(c.latency.samples),
        ]),
        ...r.scale.audit.map((a) => [
          '`@ndx/audit` writer append (one at a time, each awaits its commit)',
          `${n0(a.rows)} rows${a.rows < a.target ? ` (of ${n0(a.target)} asked: the fill stopped at its time bound, after ${Math.round(a.fillSeconds)} s)` : ''}`,
          ms(a.append.p50),
          ms(a.append.p99),
          ms(a.append.mean),
          n0(a.append.samples),
        ]),
        ...r.scale.audit.map((a) => [
          "citizen's access-log page (`listAccessesForCitizen`, 20 rows)",
          `${n0(a.rows)} rows`,
          ms(a.accessLog.p50),
          ms(a.accessLog.p99),
          ms(a.accessLog.mean),
          n0(a.accessLog.samples),
        ]),
      ],
    ),
  );

  out.push('\n### Targets\n');
  out.push(
    table(
      ['target', 'result', 'figures'],
      targets(r).map((t) => [
        t.name,
        t.met === undefined ? 'NOT MEASURED' : t.met ? 'MET' : 'MISSED',
        t.detail,
      ]),
    ),
  );

  if (r.oeMemory?.length) {
    const spaces = [...new Set(r.oeMemory.flatMap((m) => Object.keys(m.spacesMb)))];
    out.push(
      '\n### OE memory after each of its closed-loop windows (MB, from its /metrics: RSS, V8 heap, external)\n',
    );
    out.push(
      table(
        ['connections', 'RSS', 'heap total', 'heap used', 'external', ...spaces.map((s) => `${s} space`)],
        r.oeMemory.map((m) => [
          String(m.connections),
          n0(m.rssMb),
          n0(m.heapTotalMb),
          n0(m.heapUsedMb),
          n0(m.externalMb),
          ...spaces.map((s) => (m.spacesMb[s] ?? NaN).toFixed(1)),
        ]),
      ),
    );
  }
  for (const [name, profile] of [
    ['OE', r.profile],
    ['CE', r.ceProfile],
  ] as const) {
    if (!profile) continue;
    out.push(`\n### ${name} CPU profile: top 15 functions by self time (whole run; ${profile.file})\n`);
    out.push(
      table(
        ['function', 'where', 'self ms', 'share'],
        profile.top.map((f) => [
          `\`${f.function}\``,
          f.where ? `\`${f.where}\`` : '',
          n0(f.selfMs),
          `${(f.share * 100).toFixed(1)}%`,
        ]),
      ),
    );
  }
  return out.join('\n') + '\n';
}

/** Prints the report and writes bench/results/<timestamp>.json and .md (and latest.*). */
export async function report(r: BenchResults, wallSeconds: number): Promise<void> {
  const markdown = renderMarkdown(r, wallSeconds);
  console.log(`\n${markdown}`);
  const dir = join(repoRoot, 'bench/results');
  await mkdir(dir, { recursive: true });
  const stamp = r.startedAt.replaceAll(':', '-').replace(/\..*$/, '');
  const json = join(dir, `${stamp}.json`);
  const md = join(dir, `${stamp}.md`);
  await writeFile(json, JSON.stringify({ ...r, wallSeconds, targets: targets(r) }, null, 2) + '\n');
  await writeFile(md, markdown);
  await copyFile(json, join(dir, 'latest.json'));
  await copyFile(md, join(dir, 'latest.md'));
  console.log(`results: ${json} (and latest.json, ${md}, latest.md)`);
}
