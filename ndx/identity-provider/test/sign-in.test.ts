import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticator } from 'otplib';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { createTokenVerifier } from '@ndx/service-kit';
import { startTestIdentityProvider, type TestIdentityProvider } from '../testing/index.ts';
import { LOCKED_OUT, SIGN_IN_FAILED, TOTP_FAILED } from '../src/interactions.ts';
import { TestBrowser, type Page } from './support/browser.ts';

const REDIRECT_URI = 'http://127.0.0.1:8081/auth/callback';
const POST_LOGOUT_URI = 'http://127.0.0.1:8081/';
// Two of the documented demo citizens (docs/demo-citizens.md), seeded the way the stack seeds them.
const amara = { nic: '199560201234', name: 'Amara Chanda', password: 'amara-demo-2026' };
const chipo = {
  nic: '200150500789',
  name: 'Chipo Zulu',
  password: 'chipo-demo-2026',
  totpSecret: 'JBSWY3DPEHPK3PXP',
};

let fudi: TestIdentityProvider;
let portal: oidc.Configuration;

beforeAll(async () => {
  fudi = await startTestIdentityProvider({ FUDI_SEED_ACCOUNTS: JSON.stringify([amara, chipo]) });
  await fudi.addWebClient({
    clientId: 'consent-portal',
    redirectUris: [REDIRECT_URI],
    postLogoutRedirectUris: [POST_LOGOUT_URI],
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

interface Started {
  browser: TestBrowser;
  page: Page;
  verifier: string;
  state: string;
}

async function startSignIn(
  browser = new TestBrowser(),
  extra: Record<string, string> = {},
): Promise<Started> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(portal, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    resource: 'urn:ndx:consent',
    ...extra,
  });
  const page = await browser.open(url.href, {}, REDIRECT_URI);
  return { browser, page, verifier, state };
}

async function redeem(started: Started, callbackUrl: string) {
  return oidc.authorizationCodeGrant(portal, new URL(callbackUrl), {
    pkceCodeVerifier: started.verifier,
    expectedState: started.state,
  });
}

describe('citizen sign-in with authorization code + PKCE through the login form', () => {
  it('signs a demo citizen in: the ID token names the NIC and the access token is for the CE', async () => {
    const started = await startSignIn();
    expect(started.page.status).toBe(200);
    expect(started.page.html).toContain('National identity card number (NIC)');
    expect(started.page.html).toContain('to continue to consent-portal');
    const done = await started.browser.submit(
      started.page,
      '/login',
      { nic: amara.nic, password: amara.password },
      REDIRECT_URI,
    );
    expect(done.url).toMatch(/^http:\/\/127\.0\.0\.1:8081\/auth\/callback\?code=/);
    const tokens = await redeem(started, done.url);
    expect(tokens.claims()).toMatchObject({ sub: amara.nic, name: amara.name, iss: fudi.issuer });
    const access = await createTokenVerifier({ issuer: fudi.issuer, audience: 'urn:ndx:consent' }).verify(
      tokens.access_token,
    );
    expect(access.subject).toBe(amara.nic);
    expect(access.clientId).toBe('consent-portal');
    expect(tokens.refresh_token).toBeTruthy();
  });

  it('refuses an authorization request without PKCE', async () => {
    const browser = new TestBrowser();
    const url = new URL(`${fudi.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: 'consent-portal',
      response_type: 'code',
      scope: 'openid',
      redirect_uri: REDIRECT_URI,
    }).toString();
    const page = await browser.open(url.href, {}, REDIRECT_URI);
    expect(page.url).toContain('error=invalid_request');
    expect(page.url).toContain('PKCE');
  });

  it('a wrong password and an unknown NIC get the same answer', async () => {
    const wrongPassword = await startSignIn();
    const one = await wrongPassword.browser.submit(wrongPassword.page, '/login', {
      nic: '852321234V',
      password: 'not-the-password',
    });
    const unknownNic = await startSignIn();
    const two = await unknownNic.browser.submit(unknownNic.page, '/login', {
      nic: '999999999V',
      password: 'not-the-password',
    });
    expect(one.status).toBe(401);
    expect(two.status).toBe(401);
    for (const page of [one, two]) {
      expect(page.html).toContain(SIGN_IN_FAILED);
      expect(page.html).toContain('role="alert"');
    }
  });

  it('asks citizens with TOTP for a code after the password, and refuses a wrong code', async () => {
    const started = await startSignIn();
    const totp = await started.browser.submit(
      started.page,
      '/login',
      { nic: chipo.nic, password: chipo.password },
      REDIRECT_URI,
    );
    expect(totp.url).toContain('/interaction/');
    expect(totp.status).toBe(200);
    expect(totp.html).toContain('one-time code');
    const wrong = await started.browser.submit(totp, '/totp', {
      code: '000000' === authenticator.generate(chipo.totpSecret) ? '111111' : '000000',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.html).toContain(TOTP_FAILED);
    const done = await started.browser.submit(
      wrong,
      '/totp',
      { code: authenticator.generate(chipo.totpSecret) },
      REDIRECT_URI,
    );
    expect(done.url).toContain('code=');
    const tokens = await redeem(started, done.url);
    expect(tokens.claims()).toMatchObject({ sub: chipo.nic, name: chipo.name });
  });

  it('locks a NIC after five failures, even for the right password, for known and unknown NICs alike', async () => {
    await fudi.addCitizen({ nic: '197012345678', name: 'Lock Test', password: 'right-password-1' });
    for (const nic of ['197012345678', '197099999999']) {
      const started = await startSignIn();
      let page = started.page;
      for (let i = 0; i < 5; i++) {
        page = await started.browser.submit(page, '/login', { nic, password: `wrong-${i}-password` });
        expect(page.status).toBe(401);
      }
      page = await started.browser.submit(page, '/login', { nic, password: 'right-password-1' });
      expect(page.status).toBe(429);
      expect(page.html).toContain(LOCKED_OUT);
    }
  });

  it('renews tokens with the refresh token, then revocation ends it and introspection says so', async () => {
    const started = await startSignIn();
    const done = await started.browser.submit(
      started.page,
      '/login',
      { nic: amara.nic, password: amara.password },
      REDIRECT_URI,
    );
    const tokens = await redeem(started, done.url);
    const refreshToken = tokens.refresh_token!;

    const active = await oidc.tokenIntrospection(portal, refreshToken);
    expect(active).toMatchObject({ active: true, sub: amara.nic, client_id: 'consent-portal' });

    const renewed = await oidc.refreshTokenGrant(portal, refreshToken);
    expect(decodeJwt(renewed.access_token)).toMatchObject({ sub: amara.nic, aud: 'urn:ndx:consent' });
    const current = renewed.refresh_token ?? refreshToken;

    // Another client cannot revoke the citizen's token: only the client it was issued to may.
    const other = await fudi.addServiceClient({ clientId: 'someone-else', resources: ['urn:ndx:api'] });
    const otherClient = await oidc.discovery(
      new URL(fudi.issuer),
      other.clientId,
      other.clientSecret,
      undefined,
      { execute: [oidc.allowInsecureRequests] },
    );
    await oidc.tokenRevocation(otherClient, current).catch(() => undefined);
    expect((await oidc.tokenIntrospection(portal, current)).active).toBe(true);

    await oidc.tokenRevocation(portal, current);
    expect((await oidc.tokenIntrospection(portal, current)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(portal, current)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('signs the citizen out (RP-initiated logout) and then asks for the password again', async () => {
    const started = await startSignIn();
    const done = await started.browser.submit(
      started.page,
      '/login',
      { nic: amara.nic, password: amara.password },
      REDIRECT_URI,
    );
    const tokens = await redeem(started, done.url);

    // signed in: a second request gets a code without the form
    const again = await startSignIn(started.browser);
    expect(again.page.url).toContain('code=');

    const endSession = oidc.buildEndSessionUrl(portal, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: POST_LOGOUT_URI,
      state: 'bye',
    });
    const confirm = await started.browser.open(endSession.href, {}, POST_LOGOUT_URI);
    expect(confirm.html).toContain('Sign out of FUDI?');
    const out = await started.browser.submit(
      confirm,
      '/session/end/confirm',
      { logout: 'yes' },
      POST_LOGOUT_URI,
    );
    expect(out.url).toBe(`${POST_LOGOUT_URI}?state=bye`);

    const afterLogout = await startSignIn(started.browser);
    expect(afterLogout.page.status).toBe(200);
    expect(afterLogout.page.html).toContain('name="password"');
  });

  it('cancelling the sign-in returns access_denied to the client', async () => {
    const started = await startSignIn();
    const back = await started.browser.open(
      `${fudi.issuer}${/action="(\/interaction\/[^"]+\/abort)"/.exec(started.page.html)![1]}`,
      {},
      REDIRECT_URI,
    );
    expect(back.url).toContain('error=access_denied');
    expect(back.url).toContain(`state=${started.state}`);
  });
});
