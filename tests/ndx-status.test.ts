/**
 * `ndx status` on a real stack (as ./init.sh starts it), run as an operator would (bin/ndx): one screen that
 * says whether the exchange is healthy, and exits non-zero when it is not: a killed service, a rewritten audit
 * record. The CE's summary behind it answers only an operator's token.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asSuperuserWithoutTrigger } from '@ndx/audit/testing';
import { consentApiPaths } from '@ndx/contract';
import { services } from '@ndx/stack';
import type { StatusReport } from '@ndx/stack/status';
import { demoCitizens } from '@ndx/synthetic-data';
import { ndxEnvOf, runNdx, type NdxRun } from './support/ndx-cli.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';

const amara = demoCitizens.find((c) => c.nic === '199560201234')!;

let t: TestStack;
let auditPool: pg.Pool;
let passportToken: string;

async function status(): Promise<{ run: NdxRun; report: StatusReport }> {
  const run = await runNdx(['status', '--json'], ndxEnvOf(t));
  return { run, report: JSON.parse(run.stdout) as StatusReport };
}

async function askForAmara(): Promise<void> {
  const response = await fetch(`${t.url('orchestration-engine')}/graphql`, {
    method: 'POST',
    headers: { authorization: `Bearer ${passportToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query: `query { personInfo(nic: "${amara.nic}") { name } }` }),
  });
  const body = (await response.json()) as { errors?: { extensions: { code: string } }[] };
  // Without a consent the name is withheld, and asking is audited.
  expect(body.errors?.[0]?.extensions.code).toBe('CONSENT_REQUIRED');
}

beforeAll(async () => {
  t = await startTestStack({ ownPostgres: true });
  auditPool = new pg.Pool({ connectionString: t.databaseUrl('ndx_audit'), max: 2 });
  passportToken = await t.clientToken('passport-app', 'urn:ndx:api');
  await askForAmara();
});

afterAll(async () => {
  await auditPool?.end();
  await t?.stop();
});

describe('ndx status', () => {
  it('reports a healthy stack: every service ready with its version, the active policy, consents by status, closed breakers, intact audit chains (exit 0)', async () => {
    const { run, report } = await status();
    expect(run.stderr).toBe('');
    expect(report.problems).toEqual([]);
    expect(report.healthy).toBe(true);
    expect(run.code).toBe(0);
    expect(report.services.map((s) => s.name).sort()).toEqual(services.map((s) => s.name).sort());
    for (const service of report.services) {
      expect(service.state, service.name).toBe('ready');
      expect(service.version, service.name).toMatch(/^\d+\.\d+\.\d+/);
    }
    expect(report.policy).toEqual({ activeVersion: expect.any(Number) });
    expect('error' in report.consents).toBe(false);
    if (!('error' in report.consents)) {
      expect(report.consents.byStatus.PENDING).toBeGreaterThanOrEqual(1);
      expect(report.consents.total).toBe(Object.values(report.consents.byStatus).reduce((a, b) => a + b, 0));
    }
    expect(report.providers).toEqual(
      expect.arrayContaining([
        { provider: 'rgd', breaker: 'closed' },
        { provider: 'drp', breaker: 'closed' },
        { provider: 'dmt', breaker: 'closed' },
      ]),
    );
    if ('error' in report.audit) throw new Error(report.audit.error);
    const { rows } = await auditPool.query<{ n: string }>('SELECT count(*) AS n FROM audit_log');
    expect(report.audit.ok).toBe(true);
    expect(report.audit.chains.reduce((n, c) => n + c.checked, 0)).toBe(Number(rows[0]!.n));
    expect(report.versions.postgres).toMatch(/^\d+/);

    const text = await runNdx(['status'], ndxEnvOf(t));
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/NDX status at .*: HEALTHY/);
    expect(text.stdout).toMatch(/Policy\s+active version \d+/);
  });

  it("checks only the audit records from the last run's head on", async () => {
    // A checkpoint past the chain's first record, so that a walk from the start cannot pass for one from it.
    await askForAmara();
    await askForAmara();
    const before = (await status()).report.audit;
    if ('error' in before) throw new Error(before.error);
    const lastHead = before.chains.find((c) => c.lastSeq > 0)!;
    expect(lastHead.lastSeq).toBeGreaterThan(1);
    await askForAmara();
    await askForAmara();
    const { report } = await status();
    if ('error' in report.audit) throw new Error(report.audit.error);
    const chain = report.audit.chains.find((c) => c.chainId === lastHead.chainId)!;
    expect(chain).toMatchObject({
      ok: true,
      from: lastHead.lastSeq,
      lastSeq: lastHead.lastSeq + 2,
      checked: 3,
    });
  });

  it('the CE summary it reads answers only an operator token: 401 without a token, 403 for the OE', async () => {
    const url = `${t.url('consent-engine')}${consentApiPaths.summary}`;
    expect((await fetch(url)).status).toBe(401);
    const oeToken = await t.clientToken('orchestration-engine', 'urn:ndx:consent');
    const refused = await fetch(url, { headers: { authorization: `Bearer ${oeToken}` } });
    expect(refused.status).toBe(403);
    const operatorToken = await t.clientToken('ndx-operator', 'urn:ndx:consent', 'admin');
    const answered = await fetch(url, { headers: { authorization: `Bearer ${operatorToken}` } });
    expect(answered.status).toBe(200);
    expect(((await answered.json()) as { total: number }).total).toBeGreaterThanOrEqual(1);
  });

  it('says an audit record was rewritten since its last run (exit 1)', async () => {
    await status();
    const { rows } = await auditPool.query<{ id: string; chain_id: string; seq: string }>(
      'SELECT id::text, chain_id, seq::text FROM audit_log ORDER BY id DESC LIMIT 1',
    );
    const last = rows[0]!;
    await asSuperuserWithoutTrigger(
      auditPool,
      `UPDATE audit_log SET consumer_id = 'someone-else' WHERE id = $1`,
      [last.id],
    );
    const { run, report } = await status();
    expect(report.healthy).toBe(false);
    expect(run.code).toBe(1);
    expect(report.problems).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `audit chain ${last.chain_id} is BROKEN: record ${last.seq} of chain ${last.chain_id} was changed`,
        ),
      ),
    );
  });

  it('names a killed service as down, and what it leaves unready (exit 1)', async () => {
    process.kill(t.stack.pid('policy-decision-point')!, 'SIGKILL');
    const { run, report } = await status();
    expect(run.code).toBe(1);
    const pdp = report.services.find((s) => s.name === 'policy-decision-point')!;
    expect(pdp).toMatchObject({ state: 'down', reason: 'connection refused' });
    const oe = report.services.find((s) => s.name === 'orchestration-engine')!;
    expect(oe).toMatchObject({ state: 'unready', reason: 'not ready: policyDecisionPoint' });
    expect(report.policy).toEqual({ error: expect.stringMatching(/connection refused|fetch failed/) });
    expect(report.problems).toContain('policy-decision-point is down (connection refused)');
    const text = await runNdx(['status'], ndxEnvOf(t));
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/UNHEALTHY/);
    expect(text.stdout).toMatch(/DOWN\s+policy-decision-point/);
  });
});
