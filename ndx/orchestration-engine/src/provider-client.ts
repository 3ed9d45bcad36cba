import CircuitBreaker from 'opossum';
import {
  httpCall,
  isConnectionError,
  UpstreamError,
  UpstreamUnavailableError,
  type AccessTokenSource,
  type Logger,
} from '@ndx/service-kit';

/** How NDX authenticates to one provider. */
export type ProviderAuth =
  | { type: 'apiKey'; header: string; value: string }
  | { type: 'bearer'; tokens: AccessTokenSource }
  | { type: 'none' };

export interface ProviderEndpoint {
  key: string;
  /** The provider's GraphQL endpoint. */
  url: string;
  timeoutMs: number;
  auth: ProviderAuth;
}

/** A GraphQL error as a provider sends it. */
export interface ProviderGraphQLError {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: Record<string, unknown>;
}

/** What one fetch came to: one sub-query sent to one provider (a retry included), answered or failed. */
export type FetchOutcome =
  | {
      ok: true;
      data: Record<string, unknown> | null;
      errors: ProviderGraphQLError[];
      latencyMs: number;
      attempts: number;
    }
  | {
      ok: false;
      /** PROVIDER_UNAVAILABLE: no usable answer in time (down, timeout, breaker open). PROVIDER_ERROR: it answered badly. */
      code: 'PROVIDER_UNAVAILABLE' | 'PROVIDER_ERROR';
      /** What happened, for the audit log and metrics. */
      failure: 'circuit-open' | 'timeout' | 'connection' | 'status' | 'invalid-response';
      message: string;
      latencyMs: number;
      attempts: number;
      status?: number;
    };

export interface BreakerOptions {
  /** Failure percentage over the rolling window that opens the breaker. */
  errorThresholdPercentage: number;
  /** Minimum calls in the window before the breaker may open. */
  volumeThreshold: number;
  /** How long the breaker stays open before letting one trial call through. */
  resetTimeoutMs: number;
  rollingCountTimeoutMs: number;
}

export const defaultBreakerOptions: BreakerOptions = {
  errorThresholdPercentage: 50,
  volumeThreshold: 4,
  resetTimeoutMs: 5_000,
  rollingCountTimeoutMs: 10_000,
};

export type BreakerState = 'closed' | 'open' | 'halfOpen';

interface GraphQLRequest {
  query: string;
  variables: Record<string, unknown>;
}

interface GraphQLAnswer {
  data: Record<string, unknown> | null;
  errors: ProviderGraphQLError[];
  attempts: number;
}

/**
 * Calls one provider's GraphQL API: its own auth (a bearer token refreshed once on 401, or an API
 * key), a timeout, one retry on connection errors only, and a circuit breaker so that a dead
 * provider costs nothing once the breaker is open.
 */
export class ProviderClient {
  readonly key: string;
  private readonly endpoint: ProviderEndpoint;
  private readonly breaker: CircuitBreaker<[GraphQLRequest], GraphQLAnswer>;

  constructor(
    endpoint: ProviderEndpoint,
    logger: Logger,
    breakerOptions: BreakerOptions = defaultBreakerOptions,
    onStateChange?: (state: BreakerState) => void,
  ) {
    this.key = endpoint.key;
    this.endpoint = endpoint;
    this.breaker = new CircuitBreaker((request: GraphQLRequest) => this.callWithRetry(request), {
      timeout: false,
      errorThresholdPercentage: breakerOptions.errorThresholdPercentage,
      volumeThreshold: breakerOptions.volumeThreshold,
      resetTimeout: breakerOptions.resetTimeoutMs,
      rollingCountTimeout: breakerOptions.rollingCountTimeoutMs,
      // Latencies are measured by the OE itself; opossum's would keep every call's latency in the window and
      // sort them all whenever its stats are read (on every failure).
      rollingPercentilesEnabled: false,
      name: endpoint.key,
    });
    const report = (state: BreakerState) => {
      logger.warn({ provider: endpoint.key, state }, `circuit breaker for ${endpoint.key} is ${state}`);
      onStateChange?.(state);
    };
    this.breaker.on('open', () => report('open'));
    this.breaker.on('halfOpen', () => report('halfOpen'));
    this.breaker.on('close', () => report('closed'));
  }

  /** Sends one sub-query; never throws: failures come back as an outcome with a code. */
  async query(query: string, variables: Record<string, unknown>): Promise<FetchOutcome> {
    const started = performance.now();
    const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
    try {
      const answer = await this.breaker.fire({ query, variables });
      return {
        ok: true,
        data: answer.data,
        errors: answer.errors,
        latencyMs: elapsed(),
        attempts: answer.attempts,
      };
    } catch (err) {
      // Open, or half-open with its one trial call still in flight: either way the breaker refused.
      if ((err as { code?: string }).code === 'EOPENBREAKER') {
        return {
          ok: false,
          code: 'PROVIDER_UNAVAILABLE',
          failure: 'circuit-open',
          message: `${this.key} is unavailable (circuit open)`,
          latencyMs: elapsed(),
          attempts: 0,
        };
      }
      const attempts = (err as { attempts?: number }).attempts ?? 1;
      if (err instanceof UpstreamUnavailableError) {
        return {
          ok: false,
          code: 'PROVIDER_UNAVAILABLE',
          failure: err.details?.['reason'] === 'timeout' ? 'timeout' : 'connection',
          message: err.message,
          latencyMs: elapsed(),
          attempts,
        };
      }
      const status =
        err instanceof UpstreamError ? (err.details?.['status'] as number | undefined) : undefined;
      return {
        ok: false,
        code: 'PROVIDER_ERROR',
        failure: status !== undefined && status >= 300 ? 'status' : 'invalid-response',
        message: (err as Error).message,
        latencyMs: elapsed(),
        attempts,
        ...(status !== undefined ? { status } : {}),
      };
    }
  }

  private async callWithRetry(request: GraphQLRequest): Promise<GraphQLAnswer> {
    try {
      return { ...(await this.callOnce(request, true)), attempts: 1 };
    } catch (err) {
      if (!isConnectionError(err)) throw Object.assign(err as Error, { attempts: 1 });
      try {
        return { ...(await this.callOnce(request, true)), attempts: 2 };
      } catch (second) {
        throw Object.assign(second as Error, { attempts: 2 });
      }
    }
  }

  private async callOnce(
    request: GraphQLRequest,
    mayRefreshToken: boolean,
  ): Promise<Omit<GraphQLAnswer, 'attempts'>> {
    const headers: Record<string, string> = { accept: 'application/graphql-response+json, application/json' };
    const auth = this.endpoint.auth;
    if (auth.type === 'apiKey') headers[auth.header] = auth.value;
    if (auth.type === 'bearer') {
      try {
        headers.authorization = `Bearer ${await auth.tokens.getToken()}`;
      } catch (err) {
        throw new UpstreamUnavailableError(
          `${this.key}: could not obtain an access token: ${(err as Error).message}`,
          {
            reason: 'token',
          },
        );
      }
    }
    const response = await httpCall(this.endpoint.url, {
      method: 'POST',
      headers,
      body: request,
      timeoutMs: this.endpoint.timeoutMs,
    });
    if (response.status === 401 && auth.type === 'bearer' && mayRefreshToken) {
      auth.tokens.invalidate();
      return this.callOnce(request, false);
    }
    return parseGraphQLResponse(this.key, response.status, response.text);
  }
}

/** A provider's HTTP answer → data and errors, or an UpstreamError when it is not a GraphQL response. */
function parseGraphQLResponse(
  key: string,
  status: number,
  text: string,
): { data: Record<string, unknown> | null; errors: ProviderGraphQLError[] } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new UpstreamError(`${key} answered HTTP ${status} with a body that is not JSON`, { status });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new UpstreamError(`${key} answered HTTP ${status} with JSON that is not a GraphQL response`, {
      status,
    });
  }
  const { data, errors } = body as { data?: unknown; errors?: unknown };
  const validData = data === undefined || data === null || (typeof data === 'object' && !Array.isArray(data));
  const validErrors = errors === undefined || Array.isArray(errors);
  if (!validData || !validErrors || (data === undefined && errors === undefined)) {
    throw new UpstreamError(`${key} answered HTTP ${status} with JSON that is not a GraphQL response`, {
      status,
    });
  }
  if (status >= 400 && (data === undefined || data === null)) {
    const first = Array.isArray(errors) ? (errors[0] as { message?: string } | undefined) : undefined;
    throw new UpstreamError(`${key} answered HTTP ${status}${first?.message ? `: ${first.message}` : ''}`, {
      status,
    });
  }
  return {
    data: (data as Record<string, unknown> | null | undefined) ?? null,
    errors: ((errors as ProviderGraphQLError[] | undefined) ?? []).map((e) => ({
      message: typeof e?.message === 'string' ? e.message : 'provider error',
      ...(Array.isArray(e?.path) ? { path: e.path } : {}),
      ...(e?.extensions && typeof e.extensions === 'object' ? { extensions: e.extensions } : {}),
    })),
  };
}
