import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CookieJar } from '@ndx/identity-provider/testing-browser';
import { demoCitizens } from '@ndx/synthetic-data';
import { decideInPortal } from './support/consent-portal.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';
import { signInToPassportApp } from './support/tokens.ts';

/**
 * The services' logs hold no secret and no citizen data. The whole stack runs at `debug` (every request has its
 * line) writing each service's log to its file, through the full journey: the passport app's token, a passport
 * query answered CONSENT_REQUIRED, the citizen signing in to the consent portal on FUDI's login page and
 * approving, the query answered with the data; then a short load of passport queries for three consented
 * citizens. Then no log line of any service holds an access or ID token (or any JWT), a password, a client
 * secret, an API key or any other generated secret of the stack, a TOTP secret, a session cookie, or a value the
 * queries released (names, dates of birth, addresses, …).
 */

const PASSPORT_QUERY = `query Passport($nic: ID!) {
  personInfo(nic: $nic) {
    fullName name otherNames address profession dateOfBirth sex
    birthInfo { birthRegistrationNumber birthPlace district }
  }
}`;
const LOAD_QUERIES = 300;
const LOAD_CONCURRENCY = 8;
/** Three characters of base64url from a JWT's header and payload: what every compact JWT starts with. */
const JWT = /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*/;

/**
 * FUDI's interaction cookies hold the interaction's id, which is also the path of FUDI's own login page
 * (`/interaction/<id>`), so it is in every request line of that page; what makes the cookie worth anything is
 * its signature (`_interaction.sig`), which is checked below like every other cookie.
 */
const COOKIES_THAT_ARE_URL_IDS = new Set(['_interaction', '_interaction_resume']);

/** A browser's cookie jar that remembers every cookie it was ever sent (sessions end and are replaced). */
class RecordingJar extends CookieJar {
  readonly seen = new Map<string, string>();
  override store(response: Response): void {
    super.store(response);
    for (const [name, value] of this.cookies) this.seen.set(`${name}=${value}`, value);
  }
}

const citizens = ['199560201234', '852321234V', '199066604567'].map((nic) =>
  demoCitizens.find((c) => c.nic === nic)!,
);

let t: TestStack;
/** Everything that must not be in a log: what it is → its value. */
const secrets = new Map<string, string>();
/** Every value the queries released. */
const released = new Set<string>();
let loadAnswers = 0;

interface Answer {
  status: number;
  data?: { personInfo: Record<string, unknown> | null } | null;
  errors?: { extensions: { code: string; consentPortalUrl?: string } }[];
}

async function passportQuery(token: string, nic: string): Promise<Answer> {
  const response = await fetch(`${t.url('orchestration-engine')}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: PASSPORT_QUERY, variables: { nic } }),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, ...((await response.json()) as Omit<Answer, 'status'>) };
}

/** Every string (and number) leaf of a value. */
function leaves(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (typeof value === 'number') out.push(String(value));
  else if (value && typeof value === 'object') for (const v of Object.values(value)) leaves(v, out);
  return out;
}

async function serviceLogs(): Promise<Map<string, string>> {
  const logs = new Map<string, string>();
  for (const file of await readdir(t.logDir)) {
    if (file.endsWith('.log')) logs.set(file, await readFile(join(t.logDir, file), 'utf8'));
  }
  return logs;
}

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'], logLevel: 'debug' });
  const passportToken = await t.clientToken('passport-app', 'urn:ndx:api');
  secrets.set('passport app access token', passportToken);
  secrets.set('operator access token', await t.clientToken('ndx-operator', 'urn:ndx:consent', 'admin'));
  // Every secret the stack generated: client secrets, API keys, the SOAP password, cookie keys, ….
  const generated = JSON.parse(await readFile(t.stack.secretsFile, 'utf8')) as Record<string, string>;
  for (const [name, value] of Object.entries(generated)) secrets.set(`stack secret ${name}`, value);
  for (const citizen of demoCitizens) {
    secrets.set(`password of ${citizen.nic}`, citizen.password);
    if (citizen.totpSecret) secrets.set(`TOTP secret of ${citizen.nic}`, citizen.totpSecret);
  }

  // The journey, for each citizen: CONSENT_REQUIRED, approval in the portal, the data.
  const redirectUri = `${t.url('passport-app')}/consent/return`;
  const cookies = new Map<string, string>();
  for (const citizen of citizens) {
    // Each citizen in a browser of their own (a portal session belongs to one citizen).
    const jar = new RecordingJar();
    const first = await passportQuery(passportToken, citizen.nic);
    const pending = first.errors?.find((e) => e.extensions.code === 'CONSENT_REQUIRED');
    expect(pending?.extensions.consentPortalUrl, JSON.stringify(first)).toMatch(/\/consent\//);
    const decision = await decideInPortal({
      consentPortalUrl: pending!.extensions.consentPortalUrl!,
      redirectUri,
      nic: citizen.nic,
      password: citizen.password,
      decision: 'approve-all',
      jar,
    });
    expect(decision.status).toBe('ACTIVE');
    for (const [cookie, value] of jar.seen) cookies.set(cookie, value);
    const answer = await passportQuery(passportToken, citizen.nic);
    expect(answer.errors ?? []).toEqual([]);
    for (const value of leaves(answer.data)) released.add(value);
  }
  for (const [cookie, value] of cookies) {
    const name = cookie.slice(0, cookie.indexOf('='));
    if (!COOKIES_THAT_ARE_URL_IDS.has(name)) secrets.set(`cookie ${name} (${value.slice(0, 6)}…)`, value);
  }
  // FUDI's session (one per citizen's browser) is among them.
  expect([...secrets.keys()].filter((k) => k.startsWith('cookie _session (')).length).toBeGreaterThanOrEqual(
    citizens.length,
  );
  // A citizen's own tokens, from signing in to the passport app.
  const signedIn = await signInToPassportApp(t, citizens[0]!);
  secrets.set('citizen access token', signedIn.accessToken);
  secrets.set('citizen ID token', signedIn.idToken);

  // The load: passport queries for the three consented citizens.
  let next = 0;
  await Promise.all(
    Array.from({ length: LOAD_CONCURRENCY }, async () => {
      while (next < LOAD_QUERIES) {
        const citizen = citizens[next++ % citizens.length]!;
        const answer = await passportQuery(passportToken, citizen.nic);
        if (answer.status === 200 && !answer.errors?.length) loadAnswers++;
        for (const value of leaves(answer.data)) released.add(value);
      }
    }),
  );
}, 600_000);

afterAll(async () => {
  await t?.stop();
});

describe('service logs at debug, after the consent journey and a load', () => {
  it('were written: every service has a log with a line per request, and the load was answered', async () => {
    expect(loadAnswers).toBe(LOAD_QUERIES);
    const logs = await serviceLogs();
    for (const service of [
      'orchestration-engine',
      'policy-decision-point',
      'consent-engine',
      'identity-provider',
      'rgd-api',
      'drp-api',
      'drp-api-adapter',
    ]) {
      const lines = logs.get(`${service}.log`)?.split('\n').filter(Boolean) ?? [];
      expect(lines.length, service).toBeGreaterThan(10);
      expect(lines.map((l) => (JSON.parse(l) as { level: number }).level)).toContain(20);
    }
    // What the checks below look for is really there to be found.
    expect(released.size).toBeGreaterThan(15);
    for (const citizen of citizens) expect(released).toContain(citizen.birthName);
    expect(secrets.size).toBeGreaterThan(15);
  });

  it('hold no token, password, client secret, API key, TOTP secret or session cookie', async () => {
    const found: string[] = [];
    for (const [file, text] of await serviceLogs()) {
      const jwt = JWT.exec(text);
      if (jwt) found.push(`${file}: a JWT (${jwt[0].slice(0, 40)}…)`);
      for (const [what, value] of secrets) if (text.includes(value)) found.push(`${file}: ${what}`);
    }
    expect(found).toEqual([]);
  });

  it('hold no value the queries released (names, dates of birth, addresses, places)', async () => {
    const found: string[] = [];
    // Short values (a sex code, a district abbreviation) would match unrelated text; every name, date and
    // address is longer.
    const values = [...released].filter((v) => v.length >= 5);
    expect(values.length).toBeGreaterThan(15);
    for (const [file, text] of await serviceLogs()) {
      for (const value of values) if (text.includes(value)) found.push(`${file}: ${JSON.stringify(value)}`);
    }
    expect(found).toEqual([]);
  });
});
