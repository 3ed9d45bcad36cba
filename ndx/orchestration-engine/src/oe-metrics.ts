import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BreakerState } from './provider-client.ts';

/** The OE's own metrics, on the service's registry. */
export function createOeMetrics(registry: Registry) {
  const stageDuration = new Histogram({
    name: 'ndx_stage_duration_seconds',
    help: 'Time spent in each stage of a query: validate, plan, pdp, ce, fetch, merge, audit',
    labelNames: ['stage'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const providerCalls = new Counter({
    name: 'ndx_provider_calls_total',
    help: 'Sub-queries sent to providers, by provider and outcome',
    labelNames: ['provider', 'outcome'] as const,
    registers: [registry],
  });
  const providerDuration = new Histogram({
    name: 'ndx_provider_duration_seconds',
    help: 'Provider sub-query latency, retries included',
    labelNames: ['provider'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const breakerState = new Gauge({
    name: 'ndx_circuit_breaker_state',
    help: 'Circuit breaker per provider: 0 closed, 1 half-open, 2 open',
    labelNames: ['provider'] as const,
    registers: [registry],
  });
  const fieldDecisions = new Counter({
    name: 'ndx_fields_total',
    help: 'Requested provider fields by what became of them: released, or the withholding code',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const queries = new Counter({
    name: 'ndx_queries_total',
    help: 'GraphQL queries by audit outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'ndx_rate_limited_total',
    help: 'Requests refused with 429 RATE_LIMITED, by consumer (registered consumers only: labels are bounded)',
    labelNames: ['consumer'] as const,
    registers: [registry],
  });
  return {
    stageDuration,
    rateLimited,
    providerCalls,
    providerDuration,
    fieldDecisions,
    queries,
    breakerChanged: (provider: string, state: BreakerState) =>
      breakerState.set({ provider }, state === 'open' ? 2 : state === 'halfOpen' ? 1 : 0),
  };
}
export type OeMetrics = ReturnType<typeof createOeMetrics>;
