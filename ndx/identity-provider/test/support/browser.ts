/**
 * A minimal browser for tests: keeps cookies per origin, follows redirects by hand (so a test can stop
 * at a client's redirect URI), and submits the HTML forms FUDI renders.
 */
export interface Page {
  url: string;
  status: number;
  html: string;
}

export class TestBrowser {
  private readonly jar = new Map<string, Map<string, string>>();

  /** Follows redirects until a page answers, or until a Location starts with stopAt (returned as the url). */
  async open(
    url: string,
    init: { method?: string; form?: Record<string, string> } = {},
    stopAt?: string,
  ): Promise<Page> {
    let current = url;
    let method = init.method ?? 'GET';
    let body: URLSearchParams | undefined = init.form ? new URLSearchParams(init.form) : undefined;
    for (let hop = 0; hop < 15; hop++) {
      if (stopAt && current.startsWith(stopAt)) return { url: current, status: 0, html: '' };
      const target = new URL(current);
      const response = await fetch(target, {
        method,
        redirect: 'manual',
        headers: {
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...(this.cookieHeader(target) ? { cookie: this.cookieHeader(target) } : {}),
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      this.store(target, response.headers.getSetCookie());
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        current = new URL(location, target).toString();
        method = 'GET';
        body = undefined;
        continue;
      }
      return { url: current, status: response.status, html: await response.text() };
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /** Submits the form whose action contains actionPart on page, with fields merged over its hidden inputs. */
  submit(page: Page, actionPart: string, fields: Record<string, string>, stopAt?: string): Promise<Page> {
    const forms = [...page.html.matchAll(/<form[^>]*>[\s\S]*?<\/form>/g)].map((m) => m[0]);
    const form = forms.find((f) => (/action="([^"]*)"/.exec(f)?.[1] ?? '').includes(actionPart));
    if (!form) throw new Error(`no form with action ${actionPart} on ${page.url}:\n${page.html}`);
    const action = decode(/action="([^"]*)"/.exec(form)![1]!);
    const method = (/method="([^"]*)"/i.exec(form)?.[1] ?? 'GET').toUpperCase();
    const hidden: Record<string, string> = {};
    for (const input of form.matchAll(/<input[^>]*type="hidden"[^>]*>/g)) {
      const name = /name="([^"]*)"/.exec(input[0])?.[1];
      if (name) hidden[name] = decode(/value="([^"]*)"/.exec(input[0])?.[1] ?? '');
    }
    const url = new URL(action, page.url).toString();
    return this.open(url, { method, form: { ...hidden, ...fields } }, stopAt);
  }

  cookieNames(origin: string): string[] {
    return [...(this.jar.get(new URL(origin).host)?.keys() ?? [])];
  }

  private cookieHeader(url: URL): string {
    const cookies = this.jar.get(url.host);
    return cookies ? [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }

  private store(url: URL, setCookies: string[]): void {
    const cookies = this.jar.get(url.host) ?? new Map<string, string>();
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || value === '';
      if (expired) cookies.delete(name);
      else cookies.set(name, value);
    }
    this.jar.set(url.host, cookies);
  }
}

function decode(value: string): string {
  return value
    .replaceAll('&amp;', '&')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>');
}
