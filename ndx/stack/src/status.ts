import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import pg from 'pg';
import { verifySinceCheckpoints, type ChainCheckpoint } from '@ndx/audit';
import { consentApiPaths, consentSummarySchema, type ConsentStatus } from '@ndx/contract';
import { createOperatorApi } from './operator-api.ts';
import { services, type ServiceName } from './services.ts';

/** One service as `ndx status` saw it. */
export interface ServiceStatus {
  name: ServiceName;
  title: string;
  url: string;
  state: 'ready' | 'unready' | 'down';
  /** The readiness checks that failed (unready), or why it could not be asked (down). */
  reason?: string;
  version?: string;
  uptimeSeconds?: number;
}

export interface AuditChainStatus {
  chainId: string;
  ok: boolean;
  lastSeq: number;
  /** Records checked by this run: from the last run's head (checked again) to this head. */
  checked: number;
  /** Where this run's walk started (1: the whole chain). */
  from: number;
  detail?: string;
}

/** Everything `ndx status` reports; `healthy` is false when any problem is listed. */
export interface StatusReport {
  at: string;
  healthy: boolean;
  problems: string[];
  services: ServiceStatus[];
  policy: { activeVersion: number | null } | { error: string };
  consents: { byStatus: Record<ConsentStatus, number>; total: number } | { error: string };
  providers: { provider: string; breaker: 'closed' | 'half-open' | 'open' }[] | { error: string };
  audit: { ok: boolean; chains: AuditChainStatus[] } | { error: string };
  versions: { node: string; postgres?: string; services: Record<string, string> };
}

/** Where the stack is and how to ask it (from localStack for the CLI; from a running stack in tests). */
export interface StatusTarget {
  url(name: ServiceName): string;
  /** The operator client's secret (FUDI client `ndx-operator`). */
  operatorSecret(): string;
  auditDatabaseUrl(): string;
  /** Where the audit checkpoints of the last run are kept between runs. */
  checkpointFile: string;
  /** Per request, ms (default 3,000). */
  timeoutMs?: number;
}

/** Asks every service and the audit database, in parallel, and says what is wrong. Never throws. */
export async function collectStatus(target: StatusTarget): Promise<StatusReport> {
  const timeoutMs = target.timeoutMs ?? 3_000;
  const get = async (url: string) => {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.status, text: await response.text() };
  };
  const operator = createOperatorApi({ url: target.url, operatorSecret: target.operatorSecret, timeoutMs });
  const failure = (err: unknown) => ({ error: describe(err) });

  const [serviceStates, policy, consents, providers, audit] = await Promise.all([
    Promise.all(services.map((service) => serviceStatus(service, target.url(service.name), get))),
    (async () => {
      const body = await operator.call<{ activeVersion?: number | null }>(
        'policy-decision-point',
        'GET',
        '/admin/v1/versions',
      );
      return { activeVersion: body.activeVersion ?? null };
    })().catch(failure),
    (async () => {
      const answer = await operator.call<unknown>('consent-engine', 'GET', consentApiPaths.summary);
      const { byStatus, total } = consentSummarySchema.parse(answer);
      return { byStatus, total };
    })().catch(failure),
    (async () => {
      const answer = await get(`${target.url('orchestration-engine')}/metrics`);
      if (answer.status !== 200) throw new Error(`the OE answered ${answer.status}`);
      return breakerStates(answer.text);
    })().catch(failure),
    auditStatus(target),
  ]);

  const problems: string[] = [];
  for (const s of serviceStates) {
    if (s.state !== 'ready') problems.push(`${s.name} is ${s.state}${s.reason ? ` (${s.reason})` : ''}`);
  }
  if ('error' in policy) problems.push(`policy: ${policy.error}`);
  else if (policy.activeVersion === null)
    problems.push('policy: no policy version is active (everything is denied)');
  if ('error' in consents) problems.push(`consents: ${consents.error}`);
  if ('error' in providers) problems.push(`providers: ${providers.error}`);
  else
    for (const p of providers)
      if (p.breaker !== 'closed') problems.push(`provider ${p.provider}: breaker ${p.breaker}`);
  if ('error' in audit.result) problems.push(`audit: ${audit.result.error}`);
  else
    for (const c of audit.result.chains)
      if (!c.ok) problems.push(`audit chain ${c.chainId} is BROKEN: ${c.detail}`);

  return {
    at: new Date().toISOString(),
    healthy: problems.length === 0,
    problems,
    services: serviceStates,
    policy,
    consents,
    providers,
    audit: audit.result,
    versions: {
      node: process.versions.node,
      ...(audit.postgres ? { postgres: audit.postgres } : {}),
      services: Object.fromEntries(serviceStates.filter((s) => s.version).map((s) => [s.name, s.version!])),
    },
  };
}

async function serviceStatus(
  service: { name: ServiceName; title: string },
  url: string,
  get: (url: string) => Promise<{ status: number; text: string }>,
): Promise<ServiceStatus> {
  const base = { name: service.name, title: service.title, url };
  let ready: { status: number; text: string };
  try {
    ready = await get(`${url}/ready`);
  } catch (err) {
    return { ...base, state: 'down', reason: describe(err) };
  }
  const health = await get(`${url}/health`)
    .then((h) => JSON.parse(h.text) as { version?: string; uptimeSeconds?: number })
    .catch(() => ({}) as { version?: string; uptimeSeconds?: number });
  const about = {
    ...(health.version ? { version: health.version } : {}),
    ...(health.uptimeSeconds !== undefined ? { uptimeSeconds: health.uptimeSeconds } : {}),
  };
  if (ready.status === 200) return { ...base, state: 'ready', ...about };
  let reason = `GET /ready answered ${ready.status}`;
  try {
    const checks = (JSON.parse(ready.text) as { checks?: Record<string, boolean> }).checks ?? {};
    const failing = Object.entries(checks)
      .filter(([, ok]) => !ok)
      .map(([name]) => name);
    if (failing.length > 0) reason = `not ready: ${failing.join(', ')}`;
  } catch {
    // not JSON: keep the status line
  }
  return { ...base, state: 'unready', reason, ...about };
}

/** The OE's breaker gauge (0 closed, 1 half-open, 2 open) per provider, from its Prometheus text. */
export function breakerStates(
  metricsText: string,
): { provider: string; breaker: 'closed' | 'half-open' | 'open' }[] {
  const states = [];
  for (const match of metricsText.matchAll(/^ndx_circuit_breaker_state\{([^}]*)\} (\d+)/gm)) {
    const provider = /(?:^|,)provider="([^"]+)"/.exec(match[1]!)?.[1];
    if (!provider) continue;
    const value = Number(match[2]);
    states.push({ provider, breaker: value === 2 ? 'open' : value === 1 ? 'half-open' : 'closed' } as const);
  }
  if (states.length === 0) throw new Error('the OE reports no provider breakers');
  return states;
}

/** Verifies what was appended since the last run (checkpoints in a file), then keeps the new checkpoints. */
async function auditStatus(
  target: StatusTarget,
): Promise<{ result: { ok: boolean; chains: AuditChainStatus[] } | { error: string }; postgres?: string }> {
  let pool: pg.Pool | undefined;
  try {
    pool = new pg.Pool({
      connectionString: target.auditDatabaseUrl(),
      max: 1,
      connectionTimeoutMillis: target.timeoutMs ?? 3_000,
    });
    pool.on('error', () => undefined);
    const version = await pool.query<{ server_version: string }>('SHOW server_version');
    const postgres = version.rows[0]?.server_version;
    const checkpoints = await readCheckpoints(target.checkpointFile);
    const walk = await verifySinceCheckpoints(pool, checkpoints);
    await writeCheckpoints(target.checkpointFile, walk.checkpoints);
    const chains = walk.chains.map((c) => ({
      chainId: c.chainId,
      ok: c.ok,
      lastSeq: c.headSeq,
      checked: c.count,
      from: walk.startedAt[c.chainId] ?? 1,
      ...(c.detail ? { detail: c.detail } : {}),
    }));
    return { result: { ok: walk.ok, chains }, ...(postgres ? { postgres } : {}) };
  } catch (err) {
    return { result: { error: `the audit database: ${describe(err)}` } };
  } finally {
    await pool?.end();
  }
}

async function readCheckpoints(file: string): Promise<ChainCheckpoint[]> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { checkpoints?: ChainCheckpoint[] };
    return Array.isArray(parsed.checkpoints) ? parsed.checkpoints : [];
  } catch {
    return [];
  }
}

async function writeCheckpoints(file: string, checkpoints: ChainCheckpoint[]): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify({ checkpoints }, null, 2) + '\n');
  await rename(temporary, file);
}

function describe(err: unknown): string {
  const error = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (error?.name === 'TimeoutError') return 'no answer in time';
  if (error?.cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (error?.cause?.code) return error.cause.code;
  return error?.message ?? String(err);
}

/** The report as one screen of text. */
export function formatStatus(report: StatusReport): string {
  const lines: string[] = [];
  lines.push(
    `NDX status at ${report.at}: ${report.healthy ? 'HEALTHY' : `UNHEALTHY (${report.problems.length} problem${report.problems.length === 1 ? '' : 's'})`}`,
  );
  lines.push('', 'Services');
  for (const s of report.services) {
    const state = s.state === 'ready' ? 'ready  ' : s.state === 'down' ? 'DOWN   ' : 'UNREADY';
    const about = [
      s.version ? `v${s.version}` : '',
      s.uptimeSeconds !== undefined ? `up ${duration(s.uptimeSeconds)}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    lines.push(`  ${state}  ${s.name.padEnd(22)} ${s.url.padEnd(24)} ${s.reason ?? about}`);
  }
  lines.push('');
  lines.push(
    `Policy     ${'error' in report.policy ? `unknown (${report.policy.error})` : report.policy.activeVersion === null ? 'NO ACTIVE VERSION' : `active version ${report.policy.activeVersion}`}`,
  );
  if ('error' in report.consents) lines.push(`Consents   unknown (${report.consents.error})`);
  else {
    const parts = Object.entries(report.consents.byStatus).map(
      ([status, n]) => `${n.toLocaleString('en')} ${status.toLowerCase()}`,
    );
    lines.push(`Consents   ${report.consents.total.toLocaleString('en')} in all: ${parts.join(', ')}`);
  }
  lines.push(
    `Providers  ${'error' in report.providers ? `unknown (${report.providers.error})` : report.providers.map((p) => `${p.provider} ${p.breaker}`).join(', ')}`,
  );
  if ('error' in report.audit) lines.push(`Audit      unknown (${report.audit.error})`);
  else {
    lines.push(
      `Audit      ${report.audit.ok ? 'every chain intact' : 'BROKEN'} (${report.audit.chains.length} chain${report.audit.chains.length === 1 ? '' : 's'})`,
    );
    for (const c of report.audit.chains) {
      const walked =
        c.from <= 1
          ? `${c.checked.toLocaleString('en')} checked from the start`
          : `${c.checked.toLocaleString('en')} checked from record ${c.from} (the last run's head)`;
      lines.push(
        `  ${c.ok ? 'intact ' : 'BROKEN '}  ${c.chainId.padEnd(24)} ${c.lastSeq.toLocaleString('en')} records, ${walked}${c.detail ? `: ${c.detail}` : ''}`,
      );
    }
  }
  lines.push(
    `Versions   Node ${report.versions.node}${report.versions.postgres ? `, PostgreSQL ${report.versions.postgres}` : ''}`,
  );
  if (report.problems.length > 0) {
    lines.push('', 'Problems');
    for (const problem of report.problems) lines.push(`  - ${problem}`);
  }
  return lines.join('\n');
}

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7_200) return `${Math.round(seconds / 60)}m`;
  return `${Math.round(seconds / 3_600)}h`;
}
