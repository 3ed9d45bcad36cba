import type { FastifyBaseLogger } from 'fastify';
import type { ArgumentRule } from './arguments.ts';
import { ProviderError } from './errors.ts';

/** A legacy system the adapter calls; /ready is green only when every source is reachable. */
export interface UpstreamSource {
  readonly name: string;
  readonly kind: 'rest' | 'soap';
  isReachable(): Promise<boolean>;
}

/** What a field fetcher gets besides its arguments. */
export interface FieldContext {
  /** Request logger (carries the trace id). */
  logger: FastifyBaseLogger;
  /** Records one upstream call in the adapter's metrics. */
  observeUpstream(source: string, operation: string, outcome: string, seconds: number): void;
}

export type FieldFetcher = (args: Record<string, unknown>, ctx: FieldContext) => Promise<unknown>;

/** How one root field of the schema is answered. */
export interface RootField {
  /** Formats arguments must have, checked before any upstream call. */
  arguments?: Record<string, ArgumentRule>;
  fetch: FieldFetcher;
}

/** Runs one upstream call, then logs and measures it (outcome `ok`, `not-found` or the failure reason). */
export async function observedCall<T>(
  ctx: FieldContext,
  source: string,
  operation: string,
  call: () => Promise<{ value: T; outcome: 'ok' | 'not-found'; status?: number }>,
): Promise<T> {
  const started = performance.now();
  const done = (outcome: string, extra: Record<string, unknown>) => {
    const seconds = (performance.now() - started) / 1000;
    ctx.observeUpstream(source, operation, outcome, seconds);
    const line = { source, operation, outcome, durationMs: Math.round(seconds * 1000), ...extra };
    if (outcome === 'ok' || outcome === 'not-found') ctx.logger.debug(line, 'upstream call');
    else ctx.logger.warn(line, 'upstream call failed');
  };
  try {
    const result = await call();
    done(result.outcome, { upstreamStatus: result.status });
    return result.value;
  } catch (err) {
    if (err instanceof ProviderError) {
      done(err.details.reason, { upstreamStatus: err.details.upstreamStatus, error: err.message });
    } else {
      done('error', { error: (err as Error).message });
    }
    throw err;
  }
}
