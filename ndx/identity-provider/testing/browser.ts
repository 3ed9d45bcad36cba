import { createHash, randomBytes } from 'node:crypto';
import { browse, CookieJar, type Landing } from '@ndx/service-kit/testing';

// The generic test browser lives in service-kit's testing entry; re-exported for FUDI's sign-in helpers' users.
export { browse, CookieJar, csrfOf, type Landing } from '@ndx/service-kit/testing';

/** Fills in FUDI's real login form on the page the browser landed on, then follows the redirects. */
export async function submitFudiLogin(
  jar: CookieJar,
  landing: Landing,
  nic: string,
  password: string,
  stopAt?: (url: string) => boolean,
): Promise<Landing> {
  const action = /<form method="post" action="([^"]+\/login)"/.exec(landing.text)?.[1];
  if (!action) throw new Error(`not on FUDI's login page: ${landing.url} (HTTP ${landing.status})`);
  return browse(jar, new URL(action.replaceAll('&amp;', '&'), landing.url).href, {
    method: 'POST',
    form: { nic, password },
    ...(stopAt ? { stopAt } : {}),
  });
}

/**
 * A citizen access token for `resource` through FUDI's real authorization code + PKCE flow,
 * using a public client registered for the resource.
 */
export async function citizenAccessToken(options: {
  issuer: string;
  clientId: string;
  redirectUri: string;
  nic: string;
  password: string;
}): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const authorize = new URL(`${options.issuer}/auth`);
  authorize.search = new URLSearchParams({
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    response_type: 'code',
    scope: 'openid',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
  }).toString();
  const jar = new CookieJar();
  const stopAt = (url: string) => url.startsWith(options.redirectUri);
  const loginPage = await browse(jar, authorize.href, { stopAt });
  const landing = await submitFudiLogin(jar, loginPage, options.nic, options.password, stopAt);
  const code = landing.stoppedAt ? new URL(landing.stoppedAt).searchParams.get('code') : null;
  if (!code) throw new Error(`no authorization code (landed on ${landing.url}, HTTP ${landing.status})`);
  const response = await fetch(`${options.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: options.redirectUri,
      client_id: options.clientId,
      code_verifier: verifier,
    }),
  });
  const body = (await response.json()) as { access_token?: string; error?: string };
  if (!body.access_token) throw new Error(`token exchange failed: ${response.status} ${body.error}`);
  return body.access_token;
}
