import { createHash, randomBytes } from 'node:crypto';

/**
 * A minimal browser stand-in for HTTP-level portal tests: a cookie jar for 127.0.0.1 (cookies are
 * not port-scoped, as in a browser) and manual redirect following.
 */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => {
        const [k, v] = a.trim().split('=');
        return (
          (k?.toLowerCase() === 'max-age' && Number(v) <= 0) ||
          (k?.toLowerCase() === 'expires' && new Date(v ?? '').getTime() < Date.now())
        );
      });
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

export interface Landing {
  url: string;
  status: number;
  text: string;
  /** The redirect that was not followed because stopAt matched it. */
  stoppedAt?: string;
}

/** One request with the jar's cookies; redirects are followed (GET) until stopAt matches a Location. */
export async function browse(
  jar: CookieJar,
  url: string,
  init: { method?: string; form?: Record<string, string | string[]>; stopAt?: (url: string) => boolean } = {},
): Promise<Landing> {
  let current = url;
  let method = init.method ?? 'GET';
  let body: string | undefined = init.form ? formBody(init.form) : undefined;
  for (let hop = 0; hop < 20; hop++) {
    const response = await fetch(current, {
      method,
      redirect: 'manual',
      headers: {
        cookie: jar.header(),
        ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    jar.store(response);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, current).href;
      await response.body?.cancel();
      if (init.stopAt?.(next)) return { url: current, status: response.status, text: '', stoppedAt: next };
      current = next;
      method = 'GET';
      body = undefined;
      continue;
    }
    return { url: current, status: response.status, text: await response.text() };
  }
  throw new Error(`too many redirects from ${url}`);
}

function formBody(form: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(form))
    for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
  return params.toString();
}

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

/** The value of the hidden CSRF input on a portal page. */
export function csrfOf(page: string): string {
  const token = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
  if (!token) throw new Error('no CSRF token on the page');
  return token;
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
