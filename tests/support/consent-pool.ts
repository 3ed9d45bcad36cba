import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { browse, CookieJar, csrfOf, submitFudiLogin } from '@ndx/identity-provider/testing-browser';
import { generateCitizens, type SyntheticCitizen } from '@ndx/synthetic-data';
import { repoRoot, type TestStack } from './test-stack.ts';

/**
 * Consent states set up the way citizens and operators set them on the real stack: accounts made with FUDI's
 * operator CLI, consent requests opened through the CE's JSON API (as the operator), decided by the citizen in
 * the real consent portal after signing in on FUDI's real login page.
 */

/** A provider field as the CE and PDP name it. */
export interface FieldRef {
  providerKey: string;
  schemaId: string;
  field: string;
}
export const fieldKeyOf = (f: FieldRef) => `${f.providerKey}/${f.schemaId}/${f.field}`;

/** The generated citizens of the test stack's seed (the same records its registries were seeded with). */
export function seededCitizens(count = Number(process.env.SEED_CITIZENS ?? 2_000)): SyntheticCitizen[] {
  return [...generateCitizens({ citizens: count })];
}

/** Runs fn over items, `concurrency` at a time (a loaded machine times sign-ins out when all run at once). */
export async function inTurn<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/** The password a pool citizen gets from enrolCitizens. */
export const poolPassword = (nic: string) => `pool-${nic.toLowerCase()}-pw`;

/** Gives each citizen a FUDI account (password poolPassword) with FUDI's operator CLI, a few at a time. */
export async function enrolCitizens(t: TestStack, citizens: { nic: string; name: string }[]): Promise<void> {
  const cli = join(repoRoot, 'ndx', 'identity-provider', 'src', 'cli.ts');
  await inTurn(
    citizens,
    2,
    ({ nic, name }) =>
      new Promise<void>((resolve, reject) =>
        execFile(
          process.execPath,
          [cli, 'set-citizen', '--nic', nic, '--name', name],
          {
            env: {
              PATH: process.env.PATH ?? '',
              DATABASE_URL: t.databaseUrl('ndx_identity'),
              FUDI_CITIZEN_PASSWORD: poolPassword(nic),
            },
            timeout: 60_000,
          },
          (err, _stdout, stderr) => (err ? reject(new Error(`set-citizen ${nic}: ${stderr}`)) : resolve()),
        ),
      ),
  );
}

/** A consent request opened through the CE's API with the operator's token; returns its id. */
export async function requestConsent(
  t: TestStack,
  operatorToken: string,
  request: { citizenId: string; consumerId: string; purpose: string; fields: FieldRef[] },
): Promise<string> {
  const response = await fetch(`${t.url('consent-engine')}/v1/consents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(request),
    signal: AbortSignal.timeout(20_000),
  });
  const body = (await response.json()) as { consentId?: string; status?: string };
  if (!body.consentId || body.status !== 'PENDING')
    throw new Error(
      `no pending consent for ${request.citizenId}: ${response.status} ${JSON.stringify(body)}`,
    );
  return body.consentId;
}

/** A citizen signed in to the consent portal (one FUDI sign-in), deciding any of their own consents. */
export interface PortalSession {
  decide(consentId: string, decision: 'approve-all' | 'deny' | { approve: FieldRef[] }): Promise<void>;
}

export async function portalSession(t: TestStack, nic: string, password: string): Promise<PortalSession> {
  const portal = t.url('consent-engine');
  const jar = new CookieJar();
  const login = await browse(jar, `${portal}/consent/mine`);
  const mine = await submitFudiLogin(jar, login, nic, password);
  if (mine.status !== 200 || !mine.url.endsWith('/consent/mine'))
    throw new Error(`${nic} could not sign in to the portal (HTTP ${mine.status} at ${mine.url})`);
  return {
    async decide(consentId, decision) {
      const page = await browse(jar, `${portal}/consent/${consentId}`);
      if (page.status !== 200) throw new Error(`consent page ${consentId}: HTTP ${page.status}`);
      const form: Record<string, string | string[]> =
        decision === 'approve-all' || decision === 'deny'
          ? { csrf: csrfOf(page.text), action: decision }
          : { csrf: csrfOf(page.text), action: 'approve-selected', field: decision.approve.map(fieldKeyOf) };
      const done = await browse(jar, `${portal}/consent/${consentId}/decision`, { method: 'POST', form });
      if (done.status !== 200) throw new Error(`decision on ${consentId}: HTTP ${done.status} ${done.text}`);
    },
  };
}

/** The provider fields behind the passport query (the passport app's consent-based grant, less the parents). */
export const PASSPORT_FIELDS: FieldRef[] = [
  ...[
    'getPersonInfo.fullName',
    'getPersonInfo.dateOfBirth',
    'getPersonInfo.sex',
    'getPersonInfo.birthRegistrationNumber',
    'getPersonInfo.birthPlace',
    'getPersonInfo.district',
  ].map((field) => ({ providerKey: 'rgd', schemaId: 'abc-212', field })),
  ...['person.fullName', 'person.otherNames', 'person.permanentAddress', 'person.profession'].map(
    (field) => ({ providerKey: 'drp', schemaId: 'drp-schema-v1', field }),
  ),
];

export const PASSPORT_QUERY = `query Passport($nic: ID!) {
  personInfo(nic: $nic) {
    fullName name otherNames address profession dateOfBirth sex
    birthInfo { birthRegistrationNumber birthPlace district }
  }
}`;

/**
 * `count` seeded citizens known to RGD and DRP with a value in every field of the passport query (none of the
 * demo citizens), each with an ACTIVE passport consent to its ten fields, approved in the portal. Returns their NICs.
 */
export async function consentedCitizens(
  t: TestStack,
  operatorToken: string,
  count: number,
): Promise<string[]> {
  const chosen = seededCitizens()
    .filter(
      (c) =>
        c.index >= 6 &&
        c.person !== null &&
        c.birth.fullName === c.person.fullName &&
        c.person.otherNames !== null &&
        c.person.profession !== null,
    )
    .slice(0, count);
  await enrolCitizens(
    t,
    chosen.map((c) => ({ nic: c.birth.nic, name: c.birth.fullName })),
  );
  await inTurn(chosen, 2, async (citizen) => {
    const nic = citizen.birth.nic;
    const consentId = await requestConsent(t, operatorToken, {
      citizenId: nic,
      consumerId: 'passport-app',
      purpose: 'passport-application',
      fields: PASSPORT_FIELDS,
    });
    const session = await portalSession(t, nic, poolPassword(nic));
    await session.decide(consentId, 'approve-all');
  });
  return chosen.map((c) => c.birth.nic);
}
