import { httpCall, UpstreamUnavailableError, type HttpResponse } from '@ndx/service-kit';
import type { z } from 'zod';
import { ProviderError } from './errors.ts';
import { observedCall, type FieldFetcher, type UpstreamSource } from './upstream.ts';

export interface RestSourceOptions {
  /** Name in logs, metrics and errors, e.g. `drp-api`. */
  name: string;
  /** e.g. http://127.0.0.1:9091 */
  baseUrl: string;
  /** Sent on every call (e.g. the legacy system's API key). */
  headers?: Record<string, string>;
  timeoutMs: number;
  /** Path answering 200 when the system is up (default `/health`). */
  readinessPath?: string;
}

export interface RestRequest {
  method?: 'GET' | 'POST';
  /** Path with `{argument}` placeholders, already filled in. */
  path: string;
  query?: Record<string, string>;
  body?: unknown;
}

export interface RestSource extends UpstreamSource {
  readonly kind: 'rest';
  /** One call with the source's headers and timeout; timeouts and connection failures become ProviderError. */
  call(request: RestRequest): Promise<HttpResponse>;
}

/** A legacy REST system reached over HTTP (keep-alive, timeout, traceparent propagated). */
export function restSource(options: RestSourceOptions): RestSource {
  const baseUrl = options.baseUrl.replace(/\/$/, '');
  return {
    name: options.name,
    kind: 'rest',
    async call(request) {
      const url = new URL(baseUrl + request.path);
      for (const [key, value] of Object.entries(request.query ?? {})) url.searchParams.set(key, value);
      try {
        return await httpCall(url.toString(), {
          method: request.method ?? 'GET',
          headers: { accept: 'application/json', ...options.headers },
          body: request.body,
          timeoutMs: options.timeoutMs,
        });
      } catch (err) {
        if (err instanceof UpstreamUnavailableError) {
          const timeout = err.details?.['reason'] === 'timeout';
          throw new ProviderError(
            timeout
              ? `${options.name} did not answer within ${options.timeoutMs} ms`
              : `${options.name} could not be reached`,
            { source: options.name, reason: timeout ? 'timeout' : 'unreachable' },
          );
        }
        throw err;
      }
    },
    async isReachable() {
      try {
        const response = await httpCall(baseUrl + (options.readinessPath ?? '/health'), {
          timeoutMs: Math.min(options.timeoutMs, 2_000),
        });
        return response.status === 200;
      } catch {
        return false;
      }
    },
  };
}

export interface RestFieldSpec<Body> {
  method?: 'GET' | 'POST';
  /** Path template; `{name}` is replaced by the URL-encoded argument `name`, e.g. `/person/{nic}`. */
  path: string;
  /** Query parameters from arguments: `{ queryParameter: 'argumentName' }`; absent arguments are left out. */
  query?: Record<string, string>;
  /** Statuses that mean "no such record" (default [404]); they resolve to notFoundValue. */
  notFoundStatuses?: number[];
  /** What a not-found answer resolves to (default null; use [] for list fields). */
  notFoundValue?: unknown;
  /** The legacy system's JSON shape; an answer that does not match is a PROVIDER_ERROR, not a guess. */
  response: z.ZodType<Body>;
  /** Legacy shape → GraphQL shape. */
  map: (body: Body, args: Record<string, unknown>) => unknown;
}

/** A root field answered by one REST call: 2xx → map(body), not found → notFoundValue, anything else → PROVIDER_ERROR. */
export function restField<Body>(source: RestSource, spec: RestFieldSpec<Body>): FieldFetcher {
  const notFound = new Set(spec.notFoundStatuses ?? [404]);
  const operation = `${spec.method ?? 'GET'} ${spec.path}`;
  return (args, ctx) =>
    observedCall(ctx, source.name, operation, async () => {
      const path = spec.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
        const value = args[name];
        if (value === undefined || value === null) throw new Error(`path argument ${name} is missing`);
        return encodeURIComponent(String(value));
      });
      const query: Record<string, string> = {};
      for (const [param, argName] of Object.entries(spec.query ?? {})) {
        const value = args[argName];
        if (value !== undefined && value !== null) query[param] = String(value);
      }
      const response = await source.call({ method: spec.method, path, query });
      if (notFound.has(response.status)) {
        return { value: spec.notFoundValue ?? null, outcome: 'not-found', status: response.status };
      }
      if (response.status < 200 || response.status >= 300) {
        throw new ProviderError(`${source.name} answered HTTP ${response.status}`, {
          source: source.name,
          reason: 'status',
          upstreamStatus: response.status,
        });
      }
      let json: unknown;
      try {
        json = JSON.parse(response.text);
      } catch {
        throw new ProviderError(`${source.name} answered with a body that is not JSON`, {
          source: source.name,
          reason: 'invalid-response',
          upstreamStatus: response.status,
        });
      }
      const parsed = spec.response.safeParse(json);
      if (!parsed.success) {
        throw new ProviderError(`${source.name} answered in an unexpected shape`, {
          source: source.name,
          reason: 'invalid-response',
          upstreamStatus: response.status,
        });
      }
      return { value: spec.map(parsed.data, args), outcome: 'ok', status: response.status };
    });
}
