import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browse, CookieJar, csrfOf, submitFudiLogin } from '@ndx/identity-provider/testing-browser';
import { amara, bwalya, call, startHarness, type Harness } from './support/harness.ts';

const RETURN = 'http://127.0.0.1:9/consent/return';
const consumers = {
  'passport-app': {
    displayName: 'DIE Passport application',
    agency: 'Department of Immigration and Emigration',
    redirectUris: [RETURN],
  },
};

type Citizen = typeof amara;
interface ConsentEvent {
  from: string | null;
  to: string;
}

let h: Harness;
let oe: string;
let seq = 0;

beforeAll(async () => {
  h = await startHarness({ consumers });
  oe = await h.oeToken();
});
afterAll(async () => {
  await h?.stop();
});

/** A fresh request for the citizen (a field of its own, so never reused), approved by them in the portal. */
async function activeConsentOf(citizen: Citizen): Promise<string> {
  const created = await call(`${h.url}/v1/consents`, {
    token: oe,
    body: {
      citizenId: citizen.nic,
      consumerId: 'passport-app',
      purpose: 'passport-application',
      fields: [
        { providerKey: 'rgd', schemaId: 'rgd-v1', field: `birth.item${seq++}`, displayName: 'An item' },
      ],
    },
  });
  expect(created.status).toBe(201);
  const id = created.body.consentId as string;
  const jar = new CookieJar();
  const page = await signedIn(jar, citizen, `${h.url}/consent/${id}`);
  const decided = await browse(jar, `${h.url}/consent/${id}/decision`, {
    method: 'POST',
    form: { csrf: csrfOf(page.text), action: 'approve-all' },
  });
  expect(decided.status).toBe(200);
  expect((await record(id)).status).toBe('ACTIVE');
  return id;
}

/** Opens a portal page and signs in on FUDI's real login form; returns the page the portal then shows. */
async function signedIn(jar: CookieJar, citizen: Citizen, url: string) {
  const login = await browse(jar, url);
  expect(login.url.startsWith(h.fudi.issuer)).toBe(true);
  const page = await submitFudiLogin(jar, login, citizen.nic, citizen.password, () => false);
  expect(page.status).toBe(200);
  return page;
}

async function record(id: string): Promise<{ status: string; events: ConsentEvent[] }> {
  const found = await call(`${h.url}/v1/consents/${id}`, { token: oe });
  expect(found.status).toBe(200);
  return found.body as unknown as { status: string; events: ConsentEvent[] };
}

describe('revoking from “My consents” (POST /consent/mine/:id/revoke)', () => {
  it('refuses a signed-in citizen who revokes another citizen’s consent (403 page, no redirect), and that consent stays ACTIVE with no REVOKED event; an unknown id is a 404 page', async () => {
    const bwalyaConsent = await activeConsentOf(bwalya);
    const eventsBefore = (await record(bwalyaConsent)).events;

    const amaraJar = new CookieJar();
    const mine = await signedIn(amaraJar, amara, `${h.url}/consent/mine`);
    expect(mine.url).toBe(`${h.url}/consent/mine`);
    expect(mine.text).not.toContain(bwalyaConsent);

    const attempt = await browse(amaraJar, `${h.url}/consent/mine/${bwalyaConsent}/revoke`, {
      method: 'POST',
      form: { csrf: csrfOf(mine.text) },
    });
    expect(attempt.url).toBe(`${h.url}/consent/mine/${bwalyaConsent}/revoke`);
    expect(attempt.status).toBe(403);
    expect(attempt.text).toContain('Not your consent');
    expect(attempt.text).not.toContain('withdrawn');

    const after = await record(bwalyaConsent);
    expect(after.status).toBe('ACTIVE');
    expect(after.events).toEqual(eventsBefore);
    expect(after.events.map((e) => e.to)).not.toContain('REVOKED');

    const unknown = await browse(
      amaraJar,
      `${h.url}/consent/mine/00000000-0000-4000-8000-000000000000/revoke`,
      {
        method: 'POST',
        form: { csrf: csrfOf(mine.text) },
      },
    );
    expect(unknown.status).toBe(404);
    expect(unknown.text).toContain('Consent not found');
  });

  it('lets the signed-in citizen revoke their own consent: redirect to done=revoked, REVOKED with its event', async () => {
    const amaraConsent = await activeConsentOf(amara);
    const jar = new CookieJar();
    const mine = await signedIn(jar, amara, `${h.url}/consent/mine`);
    expect(mine.text).toContain(`/consent/mine/${amaraConsent}/revoke`);

    const revoked = await browse(jar, `${h.url}/consent/mine/${amaraConsent}/revoke`, {
      method: 'POST',
      form: { csrf: csrfOf(mine.text) },
    });
    expect(revoked.status).toBe(200);
    expect(revoked.url).toBe(`${h.url}/consent/mine?done=revoked`);
    expect(revoked.text).toContain('withdrawn');

    const after = await record(amaraConsent);
    expect(after.status).toBe('REVOKED');
    expect(after.events.at(-1)).toMatchObject({ from: 'ACTIVE', to: 'REVOKED' });
  });
});
