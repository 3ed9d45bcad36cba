/**
 * `ndx consumer add | list | show | disable` on a running stack, as an operator runs it (bin/ndx): a third
 * consumer app is onboarded in one command with no file edit and no restart, gets a token, asks for a
 * consent under its default purpose (from the PDP's registry), has it approved in the portal and gets data;
 * disabled, it is refused at every door. The admin APIs behind it answer only the operator's token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consentApiPaths, identityAdminPaths } from '@ndx/contract';
import { demoCitizens } from '@ndx/synthetic-data';
import { decideInPortal } from './support/consent-portal.ts';
import { ndxApiToken } from './support/consumer-onboarding.ts';
import { ndxEnvOf, runNdx } from './support/ndx-cli.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';

const amara = demoCitizens.find((c) => c.nic === '199560201234')!;
const RETURN_URL = 'http://127.0.0.1:3999/border/return';
const QUERY = `query { personInfo(nic: "${amara.nic}") { name dateOfBirth } }`;

interface Answer {
  status: number;
  body: {
    data?: { personInfo: Record<string, unknown> | null } | null;
    errors?: { message: string; extensions: Record<string, unknown> }[];
  };
}

let t: TestStack;
/** The onboarded app's secret and a token it got while it was active. */
let borderSecret: string;
let borderToken: string;

/** bin/ndx against the test stack, as an operator's shell would run it. */
const ndx = (args: string[]) => runNdx(args, ndxEnvOf(t));

async function query(token: string): Promise<Answer> {
  const response = await fetch(`${t.url('orchestration-engine')}/graphql`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query: QUERY }),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

const addBorderApp = (extra: string[] = []) =>
  ndx([
    'consumer',
    'add',
    'border-app',
    '--name',
    'Border control app',
    '--agency',
    'die',
    '--agency-name',
    'Department of Immigration and Emigration',
    '--purpose',
    'border-check',
    '--purpose-text',
    'To check your identity when you cross the border',
    '--legal-basis',
    'consent',
    '--fields',
    'rgd/abc-212/getPersonInfo.fullName,rgd/abc-212/getPersonInfo.dateOfBirth',
    '--window',
    '00:00-24:00',
    '--redirect-uri',
    RETURN_URL,
    ...extra,
  ]);

beforeAll(async () => {
  t = await startTestStack({ ownPostgres: true });
});

afterAll(async () => {
  await t?.stop();
});

describe('ndx consumer', () => {
  it('--dry-run prints the new policy version’s difference and changes nothing else', async () => {
    const operator = await t.clientToken('ndx-operator', 'urn:ndx:pdp', 'admin');
    const versions = async () =>
      (await (
        await fetch(`${t.url('policy-decision-point')}/admin/v1/versions`, {
          headers: { authorization: `Bearer ${operator}` },
        })
      ).json()) as { activeVersion: number };
    const before = await versions();
    const run = await addBorderApp(['--dry-run']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /\+ consumer border-app "Border control app" of die, purposes border-check \(default border-check\)/,
    );
    expect(run.stdout).toMatch(
      /\+ grant border-app\/border-check: consent, 2 field\(s\), 00:00-24:00: rgd\/abc-212\/getPersonInfo.fullName rgd\/abc-212\/getPersonInfo.dateOfBirth/,
    );
    expect(run.stdout).toMatch(/dry run: version \d+ is stored but not active/);
    expect(run.stdout).not.toContain('client_secret=');
    expect((await versions()).activeVersion).toBe(before.activeVersion);
    const list = await ndx(['consumer', 'list', '--json']);
    const ids = (JSON.parse(list.stdout) as { consumers: { clientId: string }[] }).consumers.map(
      (c) => c.clientId,
    );
    expect(ids).toEqual(['passport-app', 'traffic-police-app']);
  });

  it('onboards a consumer app in one command: it gets a token, asks for consent, and is answered once the citizen approves', async () => {
    const run = await addBorderApp();
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/policy version \d+ is active: border-app may query NDX for border-check/);
    const secret = /^client_secret=(\S+)$/m.exec(run.stdout)?.[1];
    expect(secret).toMatch(/^[\w-]{40,}$/);
    borderSecret = secret!;

    const token = await ndxApiToken(t, 'border-app', secret!);
    borderToken = token;
    // No NDX-Purpose header: the purpose is the consumer's default in the PDP's registry.
    const asked = await query(token);
    expect(asked.status).toBe(200);
    const request = asked.body.errors!.find((e) => e.extensions['code'] === 'CONSENT_REQUIRED')!.extensions;
    const consentId = request['consentId'] as string;

    // The CE shows the citizen the name and purpose the operator gave.
    const ceToken = await t.clientToken('orchestration-engine', 'urn:ndx:consent');
    const consent = (await (
      await fetch(`${t.url('consent-engine')}${consentApiPaths.consent(consentId)}`, {
        headers: { authorization: `Bearer ${ceToken}` },
      })
    ).json()) as { purpose: string; purposeText: string; consumer: { displayName: string; agency: string } };
    expect(consent).toMatchObject({
      purpose: 'border-check',
      purposeText: 'To check your identity when you cross the border',
      consumer: { displayName: 'Border control app', agency: 'Department of Immigration and Emigration' },
    });

    const decided = await decideInPortal({
      consentPortalUrl: request['consentPortalUrl'] as string,
      redirectUri: RETURN_URL,
      nic: amara.nic,
      password: amara.password,
      decision: 'approve-all',
    });
    expect(decided).toMatchObject({ status: 'ACTIVE', consentId });
    const answered = await query(token);
    expect(answered.body.errors).toBeUndefined();
    expect(answered.body.data).toEqual({
      personInfo: { name: amara.birthName, dateOfBirth: amara.dateOfBirth },
    });

    const shown = await ndx(['consumer', 'show', 'border-app']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^border-app: active$/m);
    expect(shown.stdout).toContain('rgd/abc-212/getPersonInfo.dateOfBirth');
    expect(shown.stdout).toContain(`returns to ${RETURN_URL}`);
  });

  it('disables the consumer: its still-valid token’s queries, new tokens and new consent requests are refused', async () => {
    const disabled = await ndx(['consumer', 'disable', 'border-app', '--reason', 'test: the app is retired']);
    expect(disabled.stderr).toBe('');
    expect(disabled.code).toBe(0);
    expect(disabled.stdout).toMatch(/policy version \d+ is active without border-app/);

    // The token it got while active is still valid at FUDI (10 minutes), but the very next query is refused.
    const after = await query(borderToken);
    expect(after.status).toBe(403);
    expect(after.body.errors?.[0]?.extensions['code']).toBe('UNKNOWN_CONSUMER');

    const fudiToken = await fetch(`${t.url('identity-provider')}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`border-app:${borderSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'urn:ndx:api' }),
    });
    expect(fudiToken.status).toBe(401);
    expect(((await fudiToken.json()) as { error: string }).error).toBe('invalid_client');

    const ceToken = await t.clientToken('orchestration-engine', 'urn:ndx:consent');
    const refused = await fetch(`${t.url('consent-engine')}${consentApiPaths.create}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ceToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        citizenId: amara.nic,
        consumerId: 'border-app',
        purpose: 'border-check',
        fields: [
          { providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName', displayName: 'Name' },
        ],
      }),
    });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('CONSUMER_DISABLED');

    const list = await ndx(['consumer', 'list', '--json']);
    const border = (
      JSON.parse(list.stdout) as { consumers: { clientId: string; state: string }[] }
    ).consumers.find((c) => c.clientId === 'border-app');
    expect(border?.state).toBe('not in the active policy, disabled at the CE, FUDI client disabled');
  });

  it('the admin APIs it uses answer only the operator: 401 without a token, 403 for a consumer or without the admin scope', async () => {
    const url = `${t.url('identity-provider')}${identityAdminPaths.clients}`;
    expect((await fetch(url)).status).toBe(401);
    const noScope = await t.clientToken('ndx-operator', 'urn:ndx:identity');
    expect((await fetch(url, { headers: { authorization: `Bearer ${noScope}` } })).status).toBe(403);
    const consumer = await t.clientToken('passport-app', 'urn:ndx:api');
    expect((await fetch(url, { headers: { authorization: `Bearer ${consumer}` } })).status).toBe(401);
    const operator = await t.clientToken('ndx-operator', 'urn:ndx:identity', 'admin');
    const listed = await fetch(url, { headers: { authorization: `Bearer ${operator}` } });
    expect(listed.status).toBe(200);
    const ce = `${t.url('consent-engine')}${consentApiPaths.consumers}`;
    const oeToken = await t.clientToken('orchestration-engine', 'urn:ndx:consent');
    expect((await fetch(ce, { headers: { authorization: `Bearer ${oeToken}` } })).status).toBe(403);
  });
});
