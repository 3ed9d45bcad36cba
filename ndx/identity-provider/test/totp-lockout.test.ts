import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticator } from 'otplib';
import * as oidc from 'openid-client';
import { startTestIdentityProvider, type TestIdentityProvider } from '../testing/index.ts';
import { LOCKED_OUT, TOTP_FAILED } from '../src/interactions.ts';
import { TestBrowser, type Page } from './support/browser.ts';

const REDIRECT_URI = 'http://127.0.0.1:8081/auth/callback';
const WINDOW_SECONDS = 900;
const MAX_FAILURES = 5;

/** The lock-out's clock, moved by the tests; TOTP codes still follow the real time. */
class TestClock {
  time = Date.now();
  now = () => new Date(this.time);
}

interface TotpCitizen {
  nic: string;
  password: string;
  totpSecret: string;
}

const clock = new TestClock();
let fudi: TestIdentityProvider;
let portal: oidc.Configuration;

beforeAll(async () => {
  fudi = await startTestIdentityProvider(
    {
      FUDI_LOCKOUT_MAX_FAILURES: String(MAX_FAILURES),
      FUDI_LOCKOUT_WINDOW_SECONDS: String(WINDOW_SECONDS),
    },
    { now: clock.now },
  );
  await fudi.addWebClient({
    clientId: 'consent-portal',
    redirectUris: [REDIRECT_URI],
    resources: ['urn:ndx:consent'],
    public: true,
  });
  portal = await oidc.discovery(new URL(fudi.issuer), 'consent-portal', undefined, oidc.None(), {
    execute: [oidc.allowInsecureRequests],
  });
});
afterAll(async () => {
  await fudi?.stop();
});

async function newTotpCitizen(nic: string): Promise<TotpCitizen> {
  const citizen = { nic, password: `right-password-${nic}`, totpSecret: authenticator.generateSecret() };
  await fudi.addCitizen({ ...citizen, name: `TOTP ${nic}` });
  return citizen;
}

/** A six-digit code FUDI must refuse now (not the current code, nor the one before or after it). */
function wrongCode(secret: string): string {
  const drift = authenticator.clone({ window: 1 });
  const code = ['000000', '111111', '222222', '333333'].find((c) => !drift.check(c, secret));
  return code!;
}

interface SignIn {
  browser: TestBrowser;
  page: Page;
  verifier: string;
  state: string;
}

/** Starts an authorization-code + PKCE sign-in and submits NIC and password; returns FUDI's answer. */
async function submitPassword(citizen: TotpCitizen): Promise<SignIn> {
  const browser = new TestBrowser();
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(portal, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    resource: 'urn:ndx:consent',
  });
  const login = await browser.open(url.href, {}, REDIRECT_URI);
  expect(login.status).toBe(200);
  const page = await browser.submit(
    login,
    '/login',
    { nic: citizen.nic, password: citizen.password },
    REDIRECT_URI,
  );
  return { browser, page, verifier, state };
}

/** A full sign-in with the right password and the right code: the subject of the tokens it ends with. */
async function signInFully(citizen: TotpCitizen): Promise<string> {
  const started = await submitPassword(citizen);
  expect(started.page.status).toBe(200);
  expect(started.page.html).toContain('one-time code');
  const done = await started.browser.submit(
    started.page,
    '/totp',
    { code: authenticator.generate(citizen.totpSecret) },
    REDIRECT_URI,
  );
  expect(done.url).toMatch(/^http:\/\/127\.0\.0\.1:8081\/auth\/callback\?code=/);
  const tokens = await oidc.authorizationCodeGrant(portal, new URL(done.url), {
    pkceCodeVerifier: started.verifier,
    expectedState: started.state,
  });
  return tokens.claims()!.sub;
}

/** Right password, then wrong one-time codes until the lock-out: each wrong code is refused as wrong. */
async function lockWithWrongCodes(citizen: TotpCitizen): Promise<SignIn> {
  const started = await submitPassword(citizen);
  expect(started.page.html).toContain('one-time code');
  let page = started.page;
  for (let i = 0; i < MAX_FAILURES; i++) {
    page = await started.browser.submit(page, '/totp', { code: wrongCode(citizen.totpSecret) });
    expect(page.status).toBe(401);
    expect(page.html).toContain(TOTP_FAILED);
  }
  return { ...started, page };
}

describe('sign-in lock-out with a second factor (injected clock)', () => {
  it('wrong one-time codes count toward the lock-out: after five, the right code and a fresh right password are refused', async () => {
    const citizen = await newTotpCitizen('197111111111');
    const locked = await lockWithWrongCodes(citizen);

    const rightCode = await locked.browser.submit(
      locked.page,
      '/totp',
      { code: authenticator.generate(citizen.totpSecret) },
      REDIRECT_URI,
    );
    expect(rightCode.url).not.toContain('code=');
    expect(rightCode.status).toBe(429);
    expect(rightCode.html).toContain(LOCKED_OUT);

    const again = await submitPassword(citizen);
    expect(again.page.status).toBe(429);
    expect(again.page.html).toContain(LOCKED_OUT);
    expect(again.page.html).not.toContain('one-time code');
  });

  it('the lock-out holds until its window has passed, and then the citizen signs in again', async () => {
    const citizen = await newTotpCitizen('197222222222');
    const lockedAt = clock.time;
    await lockWithWrongCodes(citizen);
    try {
      clock.time = lockedAt + (WINDOW_SECONDS - 5) * 1000;
      const stillLocked = await submitPassword(citizen);
      expect(stillLocked.page.status).toBe(429);
      expect(stillLocked.page.html).toContain(LOCKED_OUT);

      clock.time = lockedAt + (WINDOW_SECONDS + 5) * 1000;
      expect(await signInFully(citizen)).toBe(citizen.nic);
    } finally {
      clock.time = lockedAt;
    }
  });
});
