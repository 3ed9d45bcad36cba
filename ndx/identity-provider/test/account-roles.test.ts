import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startTestIdentityProvider, type TestIdentityProvider } from '../testing/index.ts';
import { TestBrowser, type Page } from './support/browser.ts';

/**
 * Roles on accounts (the `roles` claim, e.g. a DIE officer) and sign-in per client: a FUDI session
 * never signs a person in to a client they did not sign in at (a shared counter device).
 */

const APP_REDIRECT = 'http://127.0.0.1:3000/auth/callback';
const PORTAL_REDIRECT = 'http://127.0.0.1:8081/auth/callback';
const amara = { nic: '199560201234', name: 'Amara Chanda', password: 'amara-demo-2026' };
const officer = {
  nic: '198220399017',
  name: 'Mutale Kabwe',
  password: 'mutale-officer-2026',
  roles: ['die-officer'],
};

let fudi: TestIdentityProvider;
let app: oidc.Configuration;
let portal: oidc.Configuration;

const discover = (clientId: string, secret?: string) =>
  oidc.discovery(
    new URL(fudi.issuer),
    clientId,
    undefined,
    secret ? oidc.ClientSecretBasic(secret) : oidc.None(),
    { execute: [oidc.allowInsecureRequests] },
  );

beforeAll(async () => {
  // The officer comes in through FUDI_SEED_ACCOUNTS, the way the stack seeds its demo officers.
  fudi = await startTestIdentityProvider({ FUDI_SEED_ACCOUNTS: JSON.stringify([amara, officer]) });
  // The passport app: one confidential client for its own NDX token and for signing its users in.
  const { clientSecret } = await fudi.internals.clients.addOperatorClient({
    clientId: 'passport-app',
    grantTypes: ['client_credentials', 'authorization_code'],
    redirectUris: [APP_REDIRECT],
    resources: ['urn:ndx:api'],
  });
  await fudi.addWebClient({ clientId: 'consent-portal', redirectUris: [PORTAL_REDIRECT], public: true });
  app = await discover('passport-app', clientSecret);
  portal = await discover('consent-portal');
});
afterAll(async () => {
  await fudi?.stop();
});

interface Started {
  page: Page;
  verifier: string;
  state: string;
}

/** Opens the client's authorization request in the browser; stops at the redirect URI if FUDI answers at once. */
async function authorize(
  browser: TestBrowser,
  client: oidc.Configuration,
  redirectUri: string,
  scope: string,
): Promise<Started> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(client, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  return { page: await browser.open(url.href, {}, redirectUri), verifier, state };
}

async function signIn(
  browser: TestBrowser,
  client: oidc.Configuration,
  redirectUri: string,
  account: { nic: string; password: string },
  scope = 'openid roles',
) {
  const started = await authorize(browser, client, redirectUri, scope);
  expect(started.page.html).toContain('name="password"');
  const done = await browser.submit(
    started.page,
    '/login',
    { nic: account.nic, password: account.password },
    redirectUri,
  );
  return oidc.authorizationCodeGrant(client, new URL(done.url), {
    pkceCodeVerifier: started.verifier,
    expectedState: started.state,
  });
}

describe('roles', () => {
  it('an account seeded as a DIE officer carries roles ["die-officer"] in its ID token and userinfo', async () => {
    const tokens = await signIn(new TestBrowser(), app, APP_REDIRECT, officer);
    expect(tokens.claims()).toMatchObject({ sub: officer.nic, roles: ['die-officer'] });
    // Userinfo takes FUDI's own (opaque) access tokens: those of a client registered for no resource.
    const atPortal = await signIn(new TestBrowser(), portal, PORTAL_REDIRECT, officer);
    const userinfo = await oidc.fetchUserInfo(portal, atPortal.access_token, officer.nic);
    expect(userinfo).toMatchObject({ sub: officer.nic, roles: ['die-officer'] });
  });

  it('a citizen account has no roles: the claim is an empty list', async () => {
    const tokens = await signIn(new TestBrowser(), app, APP_REDIRECT, amara);
    expect(tokens.claims()).toMatchObject({ sub: amara.nic, roles: [] });
  });

  it('the roles claim is released only to a client that asks for the roles scope', async () => {
    const tokens = await signIn(new TestBrowser(), app, APP_REDIRECT, officer, 'openid');
    expect(tokens.claims()?.sub).toBe(officer.nic);
    expect(tokens.claims()).not.toHaveProperty('roles');
  });

  it('a role is given and taken on purpose: upsert keeps roles unless it names them', async () => {
    const nic = '199912300123';
    await fudi.internals.citizens.upsert({
      nic,
      name: 'Test Officer',
      password: 'first-password',
      roles: ['die-officer'],
    });
    await fudi.internals.citizens.upsert({ nic, name: 'Test Officer', password: 'second-password' });
    expect((await fudi.internals.citizens.find(nic))?.roles).toEqual(['die-officer']);
    await fudi.internals.citizens.upsert({
      nic,
      name: 'Test Officer',
      password: 'third-password',
      roles: [],
    });
    expect((await fudi.internals.citizens.find(nic))?.roles).toEqual([]);
    await expect(
      fudi.internals.citizens.upsert({
        nic,
        name: 'Test Officer',
        password: 'fourth-password',
        roles: ['Officer!'],
      }),
    ).rejects.toThrow('not a role name');
  });
});

describe('sign-in per client', () => {
  it('the same client is signed in again without the form', async () => {
    const browser = new TestBrowser();
    await signIn(browser, app, APP_REDIRECT, officer);
    const again = await authorize(browser, app, APP_REDIRECT, 'openid roles');
    expect(again.page.url).toMatch(/^http:\/\/127\.0\.0\.1:3000\/auth\/callback\?code=/);
  });

  it('a session from one client does not sign the person in to another: the other asks for the password', async () => {
    const browser = new TestBrowser();
    await signIn(browser, app, APP_REDIRECT, officer);
    const atPortal = await authorize(browser, portal, PORTAL_REDIRECT, 'openid');
    expect(atPortal.page.status).toBe(200);
    expect(atPortal.page.html).toContain('name="password"');
    expect(atPortal.page.html).toContain('to continue to consent-portal');
  });

  it('signing in at the other client as someone else replaces the session: the applicant, not the officer', async () => {
    const browser = new TestBrowser();
    await signIn(browser, app, APP_REDIRECT, officer);
    const atPortal = await authorize(browser, portal, PORTAL_REDIRECT, 'openid');
    // oidc-provider ends the officer's session first (a self-submitting form), then finishes the sign-in.
    const switching = await browser.submit(
      atPortal.page,
      '/login',
      { nic: amara.nic, password: amara.password },
      PORTAL_REDIRECT,
    );
    expect(switching.html).toContain('/session/end/confirm');
    const done = await browser.submit(switching, '/session/end/confirm', {}, PORTAL_REDIRECT);
    const tokens = await oidc.authorizationCodeGrant(portal, new URL(done.url), {
      pkceCodeVerifier: atPortal.verifier,
      expectedState: atPortal.state,
    });
    expect(tokens.claims()?.sub).toBe(amara.nic);
    // The officer's session is gone: the passport app asks for the password again.
    const backAtApp = await authorize(browser, app, APP_REDIRECT, 'openid roles');
    expect(backAtApp.page.html).toContain('name="password"');
  });
});
