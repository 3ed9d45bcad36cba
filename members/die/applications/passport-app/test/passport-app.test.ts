import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  freePort,
  randomSecret,
  testLogger,
  type TestDatabase,
} from '@ndx/service-kit/testing';
import { ApplicationStore } from '../src/applications.ts';
import { buildApp } from '../src/app.ts';
import { readConfig } from '../src/config.ts';
import type { Nic } from '@ndx/contract';
import { graphQLResponseSchema, interpretAnswer } from '../src/passport-lookup.ts';
import { SESSION_COOKIE } from '../src/routes.ts';
import { hashToken } from '../src/sessions.ts';

const PORTAL = 'http://127.0.0.1:8081';
const PUBLIC_URL = 'http://127.0.0.1:3000';
const STATE_TTL_SECONDS = 600;

let database: TestDatabase;
let app: FastifyInstance;
let base: string;
let db: pg.Pool;
let store: ApplicationStore;
let clock = Date.now();

/** A minimal browser: keeps the session cookie, never follows redirects. */
class Browser {
  cookie: string | undefined;

  async get(path: string): Promise<Response> {
    return this.#send(path, { method: 'GET' });
  }

  async post(path: string, form: Record<string, string>): Promise<Response> {
    return this.#send(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
  }

  /** Opens the start page and returns the CSRF token of its form. */
  async start(): Promise<string> {
    const page = await (await this.get('/')).text();
    return csrfOf(page);
  }

  /** The raw session id (the cookie is `<id>.<signature>`). */
  get sessionId(): string {
    const value = decodeURIComponent(this.cookie!.slice(this.cookie!.indexOf('=') + 1));
    return value.slice(0, value.lastIndexOf('.'));
  }

  async #send(path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookie) headers.set('cookie', this.cookie);
    const response = await fetch(base + path, { ...init, headers, redirect: 'manual' });
    const set = response.headers.get('set-cookie');
    if (set) this.cookie = set.split(';')[0];
    return response;
  }
}

/** The agency a form field's value came from, as the page marks it (NONE when nothing was released). */
const sourceOf = (page: string, field: string): string | undefined =>
  new RegExp(`data-field="${field}"\\s+data-source="([A-Z]+)"`).exec(page)?.[1];

/** The page's text with tags removed and whitespace collapsed. */
const textOf = (page: string): string =>
  page
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

const csrfOf = (page: string): string => {
  const match = /name="_csrf" value="([^"]+)"/.exec(page);
  if (!match) throw new Error('no CSRF token on the page');
  return match[1]!;
};

/** Starts an application through the start page; NDX is not running, so nothing is fetched. */
async function startApplication(browser: Browser, nic = '199560201234'): Promise<string> {
  const csrf = await browser.start();
  const response = await browser.post('/applications', { _csrf: csrf, nic });
  expect(response.status).toBe(303);
  return response.headers.get('location')!.split('/').pop()!;
}

const consentAnswer = (consentId: string, portalUrl = `${PORTAL}/consent/${consentId}`) =>
  interpretAnswer(
    graphQLResponseSchema.parse({
      data: {
        personInfo: {
          fullName: null,
          name: 'Amara Chanda',
          otherNames: null,
          address: null,
          profession: null,
          dateOfBirth: '1995-04-12',
          sex: 'FEMALE',
          birthInfo: null,
        },
      },
      errors: ['fullName', 'address', 'profession', 'otherNames'].map((field) => ({
        message: 'consent required',
        path: ['personInfo', field],
        extensions: { code: 'CONSENT_REQUIRED', consentId, consentPortalUrl: portalUrl },
      })),
    }),
    'START',
    new Date(clock),
  );

/** An application whose last NDX answer asked for consent; returns the state from the portal redirect. */
async function sendToPortal(
  browser: Browser,
  consentId: string,
): Promise<{ id: string; state: string; location: URL }> {
  const id = await startApplication(browser);
  await store.saveLookup(id, consentAnswer(consentId));
  const page = await (await browser.get(`/applications/${id}`)).text();
  expect(textOf(page)).toContain('The applicant’s consent is needed');
  const response = await browser.post(`/applications/${id}/consent`, { _csrf: csrfOf(page) });
  expect(response.status).toBe(303);
  const location = new URL(response.headers.get('location')!);
  return { id, state: location.searchParams.get('state')!, location };
}

beforeAll(async () => {
  database = await createTestDatabase('passport_app');
  const closedPort = await freePort();
  const config = readConfig({
    DATABASE_URL: database.url,
    PASSPORT_APP_CLIENT_SECRET: randomSecret(),
    PASSPORT_APP_COOKIE_SECRET: randomSecret(32),
    // Neither FUDI nor NDX runs here: every lookup fails, and the officer completes the form by hand.
    FUDI_ISSUER: `http://127.0.0.1:${closedPort}`,
    NDX_API_URL: `http://127.0.0.1:${closedPort}`,
    NDX_API_TIMEOUT_MS: '2000',
    PASSPORT_APP_PUBLIC_URL: PUBLIC_URL,
    CONSENT_PORTAL_URL: PORTAL,
    PASSPORT_APP_STATE_TTL_SECONDS: String(STATE_TTL_SECONDS),
    PASSPORT_APP_SESSION_TTL_SECONDS: '3600',
  });
  app = await buildApp(config, testLogger('passport-app'), { now: () => new Date(clock) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  db = new pg.Pool({ connectionString: database.url, max: 2 });
  store = new ApplicationStore(db, () => new Date(clock));
});

afterAll(async () => {
  await app?.close();
  await db?.end();
  await database?.drop();
});

describe('sessions and CSRF', () => {
  it('the start page sets a signed, HttpOnly, SameSite=Lax session cookie backed by a session row', async () => {
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    const setCookie = response.headers.get('set-cookie')!;
    expect(setCookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}\\.[^;]+;`));
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    const browser = new Browser();
    browser.cookie = setCookie.split(';')[0];
    const { rows } = await db.query('SELECT 1 FROM sessions WHERE id_hash = $1', [
      hashToken(browser.sessionId),
    ]);
    expect(rows).toHaveLength(1);
  });

  it('a form without the session’s CSRF token is refused with 403 CSRF_INVALID', async () => {
    const browser = new Browser();
    await browser.start();
    const forms: Record<string, string>[] = [
      { nic: '199560201234' },
      { nic: '199560201234', _csrf: 'not-the-token' },
    ];
    for (const form of forms) {
      const response = await browser.post('/applications', form);
      expect(response.status).toBe(403);
      expect(await response.text()).toContain('CSRF_INVALID');
    }
    const other = new Browser();
    const othersToken = await other.start();
    expect((await browser.post('/applications', { nic: '199560201234', _csrf: othersToken })).status).toBe(
      403,
    );
  });

  it('a session cookie whose signature does not match is ignored', async () => {
    const browser = new Browser();
    const csrf = await browser.start();
    // The real session id with a signature that is not the server's.
    browser.cookie = `${SESSION_COOKIE}=${encodeURIComponent(`${browser.sessionId}.forged`)}`;
    expect((await browser.post('/applications', { nic: '199560201234', _csrf: csrf })).status).toBe(403);
  });

  it('an expired session is not honoured and a new one is started', async () => {
    const browser = new Browser();
    const csrf = await browser.start();
    const before = browser.cookie;
    clock += 3601 * 1000;
    try {
      expect((await browser.post('/applications', { nic: '199560201234', _csrf: csrf })).status).toBe(403);
      await browser.get('/');
      expect(browser.cookie).not.toBe(before);
    } finally {
      clock -= 3601 * 1000;
    }
  });
});

describe('starting an application', () => {
  it('refuses a NIC in neither format with a clear message and keeps what was typed', async () => {
    const browser = new Browser();
    const csrf = await browser.start();
    const response = await browser.post('/applications', { _csrf: csrf, nic: '12345678V' });
    expect(response.status).toBe(400);
    const page = await response.text();
    expect(textOf(page)).toContain('Enter a NIC number in one of the two formats.');
    expect(page).toContain('value="12345678V"');
    expect(page).toContain('aria-invalid="true"');
  });

  it('saves a DRAFT for either NIC format, and when NDX cannot be reached the form is left to fill by hand', async () => {
    for (const [typed, stored] of [
      ['852321234v', '852321234V'],
      ['199560201234', '199560201234'],
    ]) {
      const browser = new Browser();
      const id = await startApplication(browser, typed);
      const { rows } = await db.query('SELECT nic, status, sources FROM applications WHERE id = $1', [id]);
      expect(rows[0]).toMatchObject({ nic: stored, status: 'DRAFT' });
      expect(rows[0].sources.lookup).toMatchObject({
        outcome: 'FAILED',
        problem: { code: 'UPSTREAM_UNAVAILABLE' },
      });
      const page = await (await browser.get(`/applications/${id}`)).text();
      expect(textOf(page)).toContain('No details could be fetched from NDX');
      expect(sourceOf(page, 'fullName')).toBe('NONE');
      expect(textOf(page)).toContain('Not fetched: NDX was not reached. Enter it by hand.');
    }
  });

  it('shows an application only to the browser session that started it', async () => {
    const owner = new Browser();
    const id = await startApplication(owner);
    expect((await owner.get(`/applications/${id}`)).status).toBe(200);
    const stranger = new Browser();
    await stranger.start();
    const response = await stranger.get(`/applications/${id}`);
    expect(response.status).toBe(404);
    expect(await response.text()).toContain('NOT_FOUND');
    expect((await stranger.get('/applications/not-a-uuid')).status).toBe(404);
  });
});

describe('the pre-filled form and submission', () => {
  it('marks each value with its agency, shows the RGD/DRP name mismatch side by side, and shows withheld fields', async () => {
    const browser = new Browser();
    const id = await startApplication(browser, '199066604567');
    await store.saveLookup(
      id,
      interpretAnswer(
        graphQLResponseSchema.parse({
          data: {
            personInfo: {
              fullName: 'Ester Banda',
              name: 'Esther Banda',
              otherNames: null,
              address: null,
              profession: null,
              dateOfBirth: '1990-06-15',
              sex: 'FEMALE',
              birthInfo: { birthRegistrationNumber: 'B-1', birthPlace: 'Chipata', district: 'Eastern' },
            },
          },
          errors: [
            { message: 'no', path: ['personInfo', 'profession'], extensions: { code: 'FORBIDDEN' } },
            {
              message: 'down',
              path: ['personInfo', 'address'],
              extensions: { code: 'PROVIDER_UNAVAILABLE' },
            },
          ],
        }),
        'START',
        new Date(clock),
      ),
    );
    const page = await (await browser.get(`/applications/${id}`)).text();
    expect(sourceOf(page, 'fullName')).toBe('RGD');
    expect(sourceOf(page, 'dateOfBirth')).toBe('RGD');
    expect(page).toContain('value="Esther Banda"');
    expect(page).toContain('data-mismatch');
    expect(textOf(page)).toContain('DRP full name Ester Banda');
    expect(textOf(page)).toContain('RGD name at birth Esther Banda');
    expect(textOf(page)).toContain('not released to this application (policy)');
    expect(textOf(page)).toContain('DRP could not be reached');
    expect(page).toContain('<option value="FEMALE" selected>');

    const form = {
      _csrf: csrfOf(page),
      fullName: 'Esther Banda',
      otherNames: '',
      dateOfBirth: '1990-06-15',
      sex: 'FEMALE',
      placeOfBirth: 'Chipata',
      districtOfBirth: 'Eastern',
      birthRegistrationNumber: 'B-1',
      address: '',
      profession: '',
    };
    const invalid = await browser.post(`/applications/${id}/submit`, form);
    expect(invalid.status).toBe(400);
    expect(textOf(await invalid.text())).toContain('Permanent address is required');

    const saved = await browser.post(`/applications/${id}/submit`, {
      ...form,
      address: '3 Market St, Chipata',
    });
    expect(saved.status).toBe(303);
    const { rows } = await db.query('SELECT status, form, submitted_at FROM applications WHERE id = $1', [
      id,
    ]);
    expect(rows[0].status).toBe('SUBMITTED');
    expect(rows[0].submitted_at).not.toBeNull();
    expect(rows[0].form.fullName).toEqual({ value: 'Esther Banda', provenance: 'RGD' });
    expect(rows[0].form.address).toEqual({ value: '3 Market St, Chipata', provenance: 'OFFICER' });

    const confirmation = await (await browser.get(`/applications/${id}`)).text();
    expect(textOf(confirmation)).toContain('Application submitted');
    expect(textOf(confirmation)).toContain('entered by the officer');

    const again = await browser.post(`/applications/${id}/submit`, { ...form, address: 'x' });
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('CONFLICT');
  });
});

describe('the consent redirect and its state', () => {
  it('sends the browser to the portal with the registered redirect_uri and a random state', async () => {
    const browser = new Browser();
    const { location, state } = await sendToPortal(browser, 'consent-a');
    expect(location.origin + location.pathname).toBe(`${PORTAL}/consent/consent-a`);
    expect(location.searchParams.get('redirect_uri')).toBe(`${PUBLIC_URL}/consent/return`);
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const second = await sendToPortal(browser, 'consent-a');
    expect(second.state).not.toBe(state);
  });

  it('a declined consent shows a clear page, the state cannot be replayed, and the form can be finished by hand', async () => {
    const browser = new Browser();
    const { id, state } = await sendToPortal(browser, 'consent-b');
    const back = await browser.get(`/consent/return?consent_id=consent-b&status=REJECTED&state=${state}`);
    expect(back.status).toBe(303);
    expect(back.headers.get('location')).toBe(`/applications/${id}/declined`);
    expect(textOf(await (await browser.get(`/applications/${id}/declined`)).text())).toContain(
      'The applicant did not agree to share their details',
    );
    const form = await (await browser.get(`/applications/${id}`)).text();
    expect(textOf(form)).not.toContain('The applicant’s consent is needed');
    expect(textOf(form)).toContain('the applicant did not agree to share this');
    expect(sourceOf(form, 'dateOfBirth')).toBe('RGD');

    const replay = await browser.get(`/consent/return?consent_id=consent-b&status=ACTIVE&state=${state}`);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('STATE_INVALID');
    const { rows } = await db.query('SELECT sources FROM applications WHERE id = $1', [id]);
    expect(rows[0].sources.consentDecisions).toMatchObject([{ consentId: 'consent-b', status: 'REJECTED' }]);
  });

  it('refuses a tampered state, and a state brought back in another browser session, without using it up', async () => {
    const browser = new Browser();
    const { state } = await sendToPortal(browser, 'consent-c');
    const tampered = state.slice(0, -1) + (state.endsWith('A') ? 'B' : 'A');
    const refused = await browser.get(`/consent/return?consent_id=consent-c&status=ACTIVE&state=${tampered}`);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('STATE_INVALID');
    expect((await browser.get('/consent/return?consent_id=consent-c&status=ACTIVE')).status).toBe(400);

    const attacker = new Browser();
    await attacker.start();
    expect(
      (await attacker.get(`/consent/return?consent_id=consent-c&status=ACTIVE&state=${state}`)).status,
    ).toBe(400);
    expect(
      (await new Browser().get(`/consent/return?consent_id=consent-c&status=ACTIVE&state=${state}`)).status,
    ).toBe(400);

    // Still good for the browser it was issued to.
    expect(
      (await browser.get(`/consent/return?consent_id=consent-c&status=REJECTED&state=${state}`)).status,
    ).toBe(303);
  });

  it('refuses a return that names another consent than the one the state was issued for', async () => {
    const browser = new Browser();
    const { state } = await sendToPortal(browser, 'consent-d');
    const response = await browser.get(`/consent/return?consent_id=consent-x&status=ACTIVE&state=${state}`);
    expect(response.status).toBe(400);
    expect(textOf(await response.text())).toContain('different consent');
  });

  it('an approved consent makes the app ask NDX again and show the form', async () => {
    const browser = new Browser();
    const { id, state } = await sendToPortal(browser, 'consent-e');
    const back = await browser.get(`/consent/return?consent_id=consent-e&status=ACTIVE&state=${state}`);
    expect(back.status).toBe(303);
    expect(back.headers.get('location')).toBe(`/applications/${id}`);
    const { rows } = await db.query('SELECT sources FROM applications WHERE id = $1', [id]);
    // NDX is not running in this test, so the retry fails, but it was made after the return.
    expect(rows[0].sources.lookup).toMatchObject({ trigger: 'CONSENT_RETURN', outcome: 'FAILED' });
    expect(textOf(await (await browser.get(`/applications/${id}`)).text())).toContain('Submit application');
  });

  it('a state expires', async () => {
    const browser = new Browser();
    const { state } = await sendToPortal(browser, 'consent-f');
    clock += (STATE_TTL_SECONDS + 1) * 1000;
    try {
      expect(
        (await browser.get(`/consent/return?consent_id=consent-f&status=ACTIVE&state=${state}`)).status,
      ).toBe(400);
    } finally {
      clock -= (STATE_TTL_SECONDS + 1) * 1000;
    }
  });

  it('never sends the browser to a portal address outside the configured consent portal', async () => {
    const browser = new Browser();
    const id = await startApplication(browser);
    await store.saveLookup(id, consentAnswer('consent-g', 'https://evil.example/consent/consent-g'));
    const page = await (await browser.get(`/applications/${id}`)).text();
    const response = await browser.post(`/applications/${id}/consent`, { _csrf: csrfOf(page) });
    expect(response.status).toBe(502);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toContain('CONSENT_PORTAL_UNTRUSTED');
    const { rows } = await db.query(
      'SELECT count(*)::int AS n FROM consent_states WHERE application_id = $1',
      [id],
    );
    expect(rows[0].n).toBe(0);
  });
});

describe('the application store', () => {
  it('keeps decisions in order and refuses to change a submitted application', async () => {
    const session = hashToken('store-test');
    const created = await store.create(session, '199560201234' as Nic);
    await store.recordConsentDecision(created.id, {
      consentId: 'a',
      status: 'REJECTED',
      at: '2026-01-01T00:00:00Z',
    });
    await store.recordConsentDecision(created.id, {
      consentId: 'b',
      status: 'ACTIVE',
      at: '2026-01-01T00:01:00Z',
    });
    const loaded = await store.get(created.id, session);
    expect(loaded.sources.consentDecisions.map((d) => d.consentId)).toEqual(['a', 'b']);
    await expect(store.get(created.id, hashToken('someone-else'))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    const form = Object.fromEntries(
      [
        'fullName',
        'otherNames',
        'dateOfBirth',
        'sex',
        'placeOfBirth',
        'districtOfBirth',
        'birthRegistrationNumber',
        'address',
        'profession',
      ].map((k) => [k, { value: 'x', provenance: 'OFFICER' }]),
    ) as Parameters<ApplicationStore['submit']>[1];
    await store.submit(created.id, form);
    await expect(store.submit(created.id, form)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(store.saveLookup(created.id, consentAnswer('z'))).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    expect((await store.listForSession(session)).map((a) => a.status)).toEqual(['SUBMITTED']);
  });
});
