/**
 * A minimal browser for HTTP-level tests of pages and sign-in flows (no JavaScript): a cookie jar and
 * manual redirect following.
 */

/** A cookie jar for 127.0.0.1 (cookies are not port-scoped, as in a browser). */
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

/** The value of the hidden CSRF input on a portal page. */
export function csrfOf(page: string): string {
  const token = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
  if (!token) throw new Error('no CSRF token on the page');
  return token;
}
