import { UpstreamError } from './errors.ts';
import { httpCall } from './http-client.ts';

export interface ClientCredentialsOptions {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** RFC 8707 resource indicator (the audience of the token). */
  resource?: string;
  scope?: string;
  timeoutMs?: number;
  /** Refresh this long before expiry. */
  refreshSkewSeconds?: number;
  now?: () => number;
}

export interface AccessTokenSource {
  /** A valid access token, fetched once and reused until shortly before it expires. */
  getToken(): Promise<string>;
  /** Forget the cached token (e.g. after a 401), so the next getToken fetches a new one. */
  invalidate(): void;
}

/**
 * OAuth2 client-credentials tokens (client_secret_basic) with caching: concurrent callers share
 * one in-flight request, and the token is renewed shortly before its `expires_in`.
 */
export function createClientCredentialsSource(options: ClientCredentialsOptions): AccessTokenSource {
  const now = options.now ?? Date.now;
  let cached: { token: string; renewAt: number } | undefined;
  let inFlight: Promise<string> | undefined;

  const fetchToken = async (): Promise<string> => {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (options.resource) form.set('resource', options.resource);
    if (options.scope) form.set('scope', options.scope);
    const basic = Buffer.from(
      `${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`,
    ).toString('base64');
    const response = await httpCall(options.tokenUrl, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
      timeoutMs: options.timeoutMs ?? 5_000,
    });
    if (response.status !== 200) {
      throw new UpstreamError(`token endpoint ${options.tokenUrl} answered HTTP ${response.status}`, {
        status: response.status,
        body: response.text.slice(0, 300),
      });
    }
    let body: { access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(response.text) as typeof body;
    } catch {
      throw new UpstreamError(`token endpoint ${options.tokenUrl} answered with a body that is not JSON`);
    }
    if (typeof body.access_token !== 'string') throw new UpstreamError('token response has no access_token');
    const lifetime = typeof body.expires_in === 'number' ? body.expires_in : 300;
    const skew = Math.min(options.refreshSkewSeconds ?? 30, lifetime / 2);
    cached = { token: body.access_token, renewAt: now() + (lifetime - skew) * 1000 };
    return body.access_token;
  };

  return {
    getToken: async () => {
      if (cached && now() < cached.renewAt) return cached.token;
      inFlight ??= fetchToken().finally(() => (inFlight = undefined));
      return inFlight;
    },
    invalidate: () => {
      cached = undefined;
    },
  };
}
