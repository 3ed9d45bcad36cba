import { browse, CookieJar } from '@ndx/service-kit/testing';

/**
 * The shared test browser (service-kit's cookie jar and redirect following) with what FUDI's tests add:
 * stopping at a client's redirect URI, and submitting the HTML forms FUDI renders.
 */
export interface Page {
  url: string;
  status: number;
  html: string;
}

export class TestBrowser {
  private readonly jar = new CookieJar();

  /** Follows redirects until a page answers, or until a Location starts with stopAt (returned as the url). */
  async open(
    url: string,
    init: { method?: string; form?: Record<string, string> } = {},
    stopAt?: string,
  ): Promise<Page> {
    if (stopAt && url.startsWith(stopAt)) return { url, status: 0, html: '' };
    const landing = await browse(this.jar, url, {
      ...init,
      ...(stopAt ? { stopAt: (next: string) => next.startsWith(stopAt) } : {}),
    });
    if (landing.stoppedAt) return { url: landing.stoppedAt, status: 0, html: '' };
    return { url: landing.url, status: landing.status, html: landing.text };
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
}

function decode(value: string): string {
  return value
    .replaceAll('&amp;', '&')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>');
}
