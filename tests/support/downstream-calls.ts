import type { TestStack } from './test-stack.ts';

/** The sum of a service's Prometheus samples of `name` whose labels include all of `labels`. */
export async function metricSum(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const sample = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (sample?.[1] !== name) continue;
    const found = new Map(
      [...(sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found.get(k) === v)) sum += Number(sample[3]);
  }
  return sum;
}

/** The requests a service answered (`http_requests_total`) whose labels include all of `labels`. */
export const requestCount = (url: string, labels: Record<string, string>) =>
  metricSum(url, 'http_requests_total', labels);

/**
 * What the OE asked of others, by their own counters: PDP decisions (per request, or a decision table), CE consent
 * checks (one, or those of concurrent queries together) and requests, and every POST to a provider (queries and
 * token requests). Not the PDP's consumer registry, which authentication asks before any limit applies, nor its
 * change feed, which every OE follows.
 */
export async function downstreamCalls(t: TestStack): Promise<{ pdp: number; ce: number; providers: number }> {
  const pdp = t.url('policy-decision-point');
  const ce = t.url('consent-engine');
  const [decisions, tables, checks, batchedChecks, requests, ...providers] = await Promise.all([
    requestCount(pdp, { route: '/v1/decisions' }),
    requestCount(pdp, { route: '/v1/decision-tables/:consumerId/:purpose' }),
    requestCount(ce, { route: '/v1/consents/check' }),
    requestCount(ce, { route: '/v1/consents/checks' }),
    requestCount(ce, { method: 'POST', route: '/v1/consents' }),
    ...(['rgd-api', 'drp-api-adapter', 'dmt-api-adapter'] as const).map((name) =>
      requestCount(t.url(name), { method: 'POST' }),
    ),
  ]);
  return {
    pdp: decisions! + tables!,
    ce: checks! + batchedChecks! + requests!,
    providers: providers.reduce((a, b) => a + b, 0),
  };
}
