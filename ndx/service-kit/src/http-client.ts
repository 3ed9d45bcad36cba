import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';
import { UpstreamError, UpstreamUnavailableError } from './errors.ts';
import { outgoingTraceparent } from './trace-context.ts';

/** A keep-alive connection pool shared by all calls of a process to other services. */
export const sharedAgent: Dispatcher = new Agent({
  keepAliveTimeout: 10_000,
  keepAliveMaxTimeout: 60_000,
  connections: 64,
  pipelining: 1,
});

export interface HttpCallOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  /** Sent as JSON when an object, as-is when a string. */
  body?: unknown;
  timeoutMs: number;
  dispatcher?: Dispatcher;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Connection-level failures: the request never got an answer (refused, reset, DNS). Safe to retry. */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof UpstreamUnavailableError) return err.details?.['reason'] === 'connection';
  return false;
}

/**
 * One HTTP call with a timeout and the current trace propagated. Network failures and timeouts
 * become UpstreamUnavailableError (details.reason 'connection' or 'timeout'); the caller decides
 * what a status code means.
 */
export async function httpCall(url: string, options: HttpCallOptions): Promise<HttpResponse> {
  const headers: Record<string, string> = { traceparent: outgoingTraceparent(), ...options.headers };
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  // One controller and one timer, cleared when the answer has been read: cheaper per call than
  // AbortSignal.timeout with AbortSignal.any, whose timer and signals outlive the call until the timeout.
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException(`no answer within ${options.timeoutMs} ms`, 'TimeoutError')),
    options.timeoutMs,
  );
  const outer = options.signal;
  const onOuterAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) onOuterAbort();
  else outer?.addEventListener('abort', onOuterAbort, { once: true });
  try {
    const { origin, path } = targetOf(url);
    const response = await (options.dispatcher ?? sharedAgent).request({
      origin,
      path,
      method: options.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      body,
      signal: controller.signal,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    const text = await response.body.text();
    return { status: response.statusCode, headers: response.headers, text };
  } catch (err) {
    throw toUnavailable(url, err, options.timeoutMs);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuterAbort);
  }
}

/** The origin and path of each URL called (a process calls a handful): parsed once, not on every call. */
const targets = new Map<string, { origin: string; path: string }>();
const MAX_TARGETS = 1_000;

function targetOf(url: string): { origin: string; path: string } {
  let target = targets.get(url);
  if (!target) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new UpstreamUnavailableError(`${url} is not an http(s) URL`, { reason: 'connection' });
    }
    target = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
    if (targets.size >= MAX_TARGETS) targets.clear();
    targets.set(url, target);
  }
  return target;
}

/** httpCall that expects a 2xx JSON answer; anything else is an UpstreamError with the status. */
export async function httpJson<T = unknown>(url: string, options: HttpCallOptions): Promise<T> {
  const response = await httpCall(url, {
    ...options,
    headers: { accept: 'application/json', ...options.headers },
  });
  if (response.status < 200 || response.status >= 300) {
    throw new UpstreamError(`${url} answered HTTP ${response.status}`, {
      status: response.status,
      body: response.text.slice(0, 500),
    });
  }
  try {
    return JSON.parse(response.text) as T;
  } catch {
    throw new UpstreamError(`${url} answered with a body that is not JSON`, { status: response.status });
  }
}

function toUnavailable(url: string, err: unknown, timeoutMs: number): UpstreamUnavailableError {
  const name = (err as Error)?.name;
  const isTimeout =
    name === 'TimeoutError' ||
    name === 'AbortError' ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError;
  if (isTimeout) {
    return new UpstreamUnavailableError(`${url} did not answer within ${timeoutMs} ms`, {
      reason: 'timeout',
    });
  }
  return new UpstreamUnavailableError(
    `${url} could not be reached: ${(err as Error)?.message ?? String(err)}`,
    {
      reason: 'connection',
    },
  );
}
