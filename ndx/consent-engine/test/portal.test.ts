import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amara, bwalya, call, startHarness, type Harness } from './support/harness.ts';
import {
  browse,
  CookieJar,
  csrfOf,
  submitFudiLogin,
  type Landing,
} from '@ndx/identity-provider/testing-browser';

const RETURN = 'http://127.0.0.1:9/consent/return';
const consumers = {
  'passport-app': {
    displayName: 'DIE Passport application',
    agency: 'Department of Immigration and Emigration',
    redirectUris: [RETURN],
  },
};
const fields = [
  {
    providerKey: 'rgd',
    schemaId: 'rgd-v1',
    field: 'birth.fullName',
    displayName: 'Name at birth',
    description: 'Your full name as registered at birth',
  },
  { providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.dateOfBirth', displayName: 'Date of birth' },
  { providerKey: 'drp', schemaId: 'drp-v1', field: 'person.address', displayName: 'Home address' },
];

class TestClock {
  time = Date.now();
  now = () => new Date(this.time);
}

let h: Harness;
let oe: string;
const clock = new TestClock();
let seq = 0;

beforeAll(async () => {
  h = await startHarness({ consumers, clock });
  oe = await h.oeToken();
});
afterAll(async () => {
  await h?.stop();
});

/** A fresh pending request for amara (distinct field set each time, so never reused). */
async function newConsent(citizenId = amara.nic): Promise<string> {
  const extra = {
    providerKey: 'rgd',
    schemaId: 'rgd-v1',
    field: `birth.extra${seq++}`,
    displayName: 'Extra',
  };
  const res = await call(`${h.url}/v1/consents`, {
    token: oe,
    body: {
      citizenId,
      consumerId: 'passport-app',
      purpose: 'passport-application',
      fields: [...fields, extra],
    },
  });
  expect(res.status).toBe(201);
  return res.body.consentId as string;
}

const stopAtReturn = (url: string) => url.startsWith(RETURN);

/** Opens a portal URL and signs in through FUDI's real login form; returns the page the portal shows. */
async function openSignedIn(jar: CookieJar, url: string, citizen = amara): Promise<Landing> {
  const login = await browse(jar, url, { stopAt: stopAtReturn });
  expect(login.url.startsWith(h.fudi.issuer)).toBe(true);
  return submitFudiLogin(jar, login, citizen.nic, citizen.password, stopAtReturn);
}

describe('consent portal', () => {
  it('signs the citizen in through FUDI, shows the request, and redirects back with consent_id, status and state after a partial approval', async () => {
    const id = await newConsent();
    const jar = new CookieJar();
    const page = await openSignedIn(
      jar,
      `${h.url}/consent/${id}?redirect_uri=${encodeURIComponent(RETURN)}&state=xyz-123`,
    );
    expect(page.status).toBe(200);
    expect(page.url).toBe(`${h.url}/consent/${id}?redirect_uri=${encodeURIComponent(RETURN)}&state=xyz-123`);
    expect(page.text).toContain('DIE Passport application');
    expect(page.text).toContain('Department of Immigration and Emigration');
    expect(page.text).toContain('From Registrar General&#39;s Department (births)');
    expect(page.text).toContain('Your full name as registered at birth');
    expect(page.text).toContain('30 days');

    const landing = await browse(jar, `${h.url}/consent/${id}/decision`, {
      method: 'POST',
      form: {
        csrf: csrfOf(page.text),
        action: 'approve-selected',
        field: ['rgd/rgd-v1/birth.fullName', 'drp/drp-v1/person.address'],
        redirect_uri: RETURN,
        state: 'xyz-123',
      },
      stopAt: stopAtReturn,
    });
    const back = new URL(landing.stoppedAt!);
    expect(`${back.origin}${back.pathname}`).toBe(RETURN);
    expect(Object.fromEntries(back.searchParams)).toEqual({
      consent_id: id,
      status: 'ACTIVE',
      state: 'xyz-123',
    });

    const record = await call(`${h.url}/v1/consents/${id}`, { token: oe });
    const granted = (record.body.fields as { field: string; granted: boolean }[])
      .filter((f) => f.granted)
      .map((f) => f.field);
    expect(granted.sort()).toEqual(['birth.fullName', 'person.address']);
  });

  it('denying redirects back with status REJECTED; choosing nothing to share is a 400 that changes nothing', async () => {
    const id = await newConsent();
    const jar = new CookieJar();
    const url = `${h.url}/consent/${id}?redirect_uri=${encodeURIComponent(RETURN)}&state=s2`;
    const page = await openSignedIn(jar, url);
    const empty = await browse(jar, `${h.url}/consent/${id}/decision`, {
      method: 'POST',
      form: { csrf: csrfOf(page.text), action: 'approve-selected', redirect_uri: RETURN, state: 's2' },
      stopAt: stopAtReturn,
    });
    expect(empty.status).toBe(400);
    expect(empty.stoppedAt).toBeUndefined();
    const denied = await browse(jar, `${h.url}/consent/${id}/decision`, {
      method: 'POST',
      form: { csrf: csrfOf(page.text), action: 'deny', redirect_uri: RETURN, state: 's2' },
      stopAt: stopAtReturn,
    });
    expect(Object.fromEntries(new URL(denied.stoppedAt!).searchParams)).toEqual({
      consent_id: id,
      status: 'REJECTED',
      state: 's2',
    });
    const reopened = await browse(jar, url, { stopAt: stopAtReturn });
    expect(reopened.text).toContain('status-REJECTED');
    expect(reopened.text).not.toContain('Share selected');
  });

  it('sets the session cookie HttpOnly and SameSite=Lax', async () => {
    const id = await newConsent();
    const response = await fetch(`${h.url}/consent/${id}`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    const cookie = response.headers.getSetCookie().find((c) => c.startsWith('ndx_consent_session='))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).not.toMatch(/Secure/i);
    expect(new URL(response.headers.get('location')!).origin).toBe(h.fudi.issuer);
  });

  it('refuses an unregistered redirect_uri with a 400 page and never redirects to it', async () => {
    const id = await newConsent();
    const evil = 'https://evil.example/steal';
    const response = await fetch(`${h.url}/consent/${id}?redirect_uri=${encodeURIComponent(evil)}&state=s`, {
      redirect: 'manual',
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('Unknown return address');

    const jar = new CookieJar();
    const page = await openSignedIn(jar, `${h.url}/consent/${id}`);
    const post = await browse(jar, `${h.url}/consent/${id}/decision`, {
      method: 'POST',
      form: { csrf: csrfOf(page.text), action: 'approve-all', redirect_uri: evil, state: 's' },
      stopAt: () => true,
    });
    expect(post.stoppedAt).toBeUndefined();
    expect(post.status).toBe(400);
    expect((await call(`${h.url}/v1/consents/${id}`, { token: oe })).body.status).toBe('PENDING');
  });

  it('refuses a citizen who is not the data subject (403), on the page and on the form', async () => {
    const id = await newConsent(amara.nic);
    const jar = new CookieJar();
    const page = await openSignedIn(jar, `${h.url}/consent/${id}`, bwalya);
    expect(page.status).toBe(403);
    expect(page.text).toContain('Not your consent');
    expect(page.text).not.toContain('Name at birth');

    const mine = await browse(jar, `${h.url}/consent/mine`);
    const post = await browse(jar, `${h.url}/consent/${id}/decision`, {
      method: 'POST',
      form: { csrf: csrfOf(mine.text), action: 'approve-all' },
    });
    expect(post.status).toBe(403);
    expect((await call(`${h.url}/v1/consents/${id}`, { token: oe })).body.status).toBe('PENDING');
  });

  it('refuses a form without the CSRF token, or with a wrong one (403), and changes nothing', async () => {
    const id = await newConsent();
    const jar = new CookieJar();
    await openSignedIn(jar, `${h.url}/consent/${id}`);
    const missing = await browse(jar, `${h.url}/consent/${id}/decision`, {
      method: 'POST',
      form: { action: 'approve-all' },
    });
    expect(missing.status).toBe(403);
    expect(missing.text).toContain('Form expired');
    const wrong = await browse(jar, `${h.url}/consent/${id}/decision`, {
      method: 'POST',
      form: { action: 'approve-all', csrf: 'forged' },
    });
    expect(wrong.status).toBe(403);
    expect((await call(`${h.url}/v1/consents/${id}`, { token: oe })).body.status).toBe('PENDING');
  });

  it('lists the citizen’s consents and revokes one from /consent/mine; the next check is refused', async () => {
    const id = await newConsent();
    const jar = new CookieJar();
    const page = await openSignedIn(jar, `${h.url}/consent/${id}`);
    await browse(jar, `${h.url}/consent/${id}/decision`, {
      method: 'POST',
      form: { csrf: csrfOf(page.text), action: 'approve-all' },
    });
    const check = () =>
      call(`${h.url}/v1/consents/check`, {
        token: oe,
        body: {
          citizenId: amara.nic,
          consumerId: 'passport-app',
          purpose: 'passport-application',
          fields: [fields[1]],
        },
      });
    expect((await check()).body.covered).toBe(true);

    const list = await browse(jar, `${h.url}/consent/mine`);
    expect(list.status).toBe(200);
    expect(list.text).toContain(`/consent/mine/${id}/revoke`);
    expect(list.text).toContain('Who accessed my data');

    const noCsrf = await browse(jar, `${h.url}/consent/mine/${id}/revoke`, { method: 'POST', form: {} });
    expect(noCsrf.status).toBe(403);
    expect((await check()).body.covered).toBe(true);

    const after = await browse(jar, `${h.url}/consent/mine/${id}/revoke`, {
      method: 'POST',
      form: { csrf: csrfOf(list.text) },
    });
    expect(after.status).toBe(200);
    expect(after.url).toBe(`${h.url}/consent/mine?done=revoked`);
    expect(after.text).toContain('withdrawn');
    expect((await check()).body).toMatchObject({ covered: false });
  });

  it('a lapsed request shows as expired and cannot be approved (injected clock)', async () => {
    const id = await newConsent();
    clock.time += 3_600_000 + 1000;
    try {
      const jar = new CookieJar();
      const page = await openSignedIn(jar, `${h.url}/consent/${id}`);
      expect(page.status).toBe(200);
      expect(page.text).toContain('status-EXPIRED');
      expect(page.text).not.toContain('Share selected');
      const post = await browse(jar, `${h.url}/consent/${id}/decision`, {
        method: 'POST',
        form: { csrf: csrfOf(page.text), action: 'approve-all' },
      });
      expect(post.status).toBe(409);
      expect(post.text).toContain('Request expired');
      const record = await call(`${h.url}/v1/consents/${id}`, { token: oe });
      expect(record.body.status).toBe('EXPIRED');
      expect((record.body.events as { from: string; to: string }[]).at(-1)).toMatchObject({
        from: 'PENDING',
        to: 'EXPIRED',
      });
    } finally {
      clock.time -= 3_600_000 + 1000;
    }
  });
});
