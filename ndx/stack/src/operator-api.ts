import { IDENTITY_ADMIN_AUDIENCE } from '@ndx/contract';
import type { ServiceName } from './services.ts';

/** The audience of each service's operator API (what the operator's FUDI token is for). */
export const operatorAudiences = {
  'identity-provider': IDENTITY_ADMIN_AUDIENCE,
  'policy-decision-point': 'urn:ndx:pdp',
  'consent-engine': 'urn:ndx:consent',
} as const satisfies Partial<Record<ServiceName, string>>;

export type OperatorService = keyof typeof operatorAudiences;

/** An operator API's answer that was not what the command needed: says which service, what it said. */
export class OperatorApiError extends Error {
  readonly service: string;
  readonly status: number;
  readonly code: string | undefined;

  constructor(service: string, status: number, code: string | undefined, message: string) {
    super(message);
    this.service = service;
    this.status = status;
    this.code = code;
  }
}

export interface OperatorApi {
  /** JSON from a service's operator API with an operator token for it; throws OperatorApiError unless 2xx. */
  call<T>(
    service: OperatorService,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<T>;
}

/**
 * The operators' client of the services' admin APIs: a FUDI token (client credentials of the `ndx-operator`
 * client, scope admin) per audience, kept while it is valid, and JSON calls with a timeout.
 */
export function createOperatorApi(options: {
  url(name: ServiceName): string;
  operatorSecret(): string;
  timeoutMs?: number;
}): OperatorApi {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const tokens = new Map<string, { token: string; until: number }>();
  const token = async (audience: string): Promise<string> => {
    const kept = tokens.get(audience);
    if (kept && Date.now() < kept.until) return kept.token;
    const response = await fetch(`${options.url('identity-provider')}/token`, {
      method: 'POST',
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        authorization: `Basic ${Buffer.from(`ndx-operator:${options.operatorSecret()}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: audience, scope: 'admin' }),
    });
    const body = (await response.json().catch(() => ({}))) as {
      access_token?: string;
      expires_in?: number;
      error?: string;
      error_description?: string;
    };
    if (!body.access_token) {
      throw new OperatorApiError(
        'identity-provider',
        response.status,
        body.error,
        `FUDI gave no operator token for ${audience}: ${body.error_description ?? body.error ?? response.status}`,
      );
    }
    tokens.set(audience, {
      token: body.access_token,
      until: Date.now() + ((body.expires_in ?? 60) - 30) * 1000,
    });
    return body.access_token;
  };
  return {
    async call<T>(service: OperatorService, method: string, path: string, body?: unknown): Promise<T> {
      const response = await fetch(`${options.url(service)}${path}`, {
        method,
        signal: AbortSignal.timeout(timeoutMs),
        headers: {
          authorization: `Bearer ${await token(operatorAudiences[service])}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      if (response.status < 200 || response.status > 299) {
        const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
        throw new OperatorApiError(
          service,
          response.status,
          error?.code,
          `${service} answered ${method} ${path} with ${response.status}: ${error?.message ?? text.slice(0, 300)}`,
        );
      }
      return parsed as T;
    },
  };
}
