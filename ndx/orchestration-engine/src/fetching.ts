import type { ProviderAnswer } from './merger.ts';
import type { FetchOutcome, ProviderClient } from './provider-client.ts';
import type { QueryPlan } from './query-plan.ts';
import { buildSubQuery } from './sub-query.ts';

/** One provider that was sent a sub-query, and what that came to (for metrics and the audit record). */
export interface ProviderFetch {
  providerKey: string;
  outcome: FetchOutcome;
}

export interface FetchResult {
  /** For the merger: one answer per provider that was asked. */
  outcomes: Record<string, ProviderAnswer>;
  calls: ProviderFetch[];
}

/**
 * Sends each provider one sub-query holding only its released leaves, all providers in parallel.
 * A provider with nothing released is not called at all.
 */
export async function fetchReleased(
  plan: QueryPlan,
  released: ReadonlySet<number>,
  clients: ReadonlyMap<string, ProviderClient>,
): Promise<FetchResult> {
  const fetches = await Promise.all(
    plan.providers.map(async (provider): Promise<ProviderFetch | undefined> => {
      const subQuery = buildSubQuery(plan, provider.providerKey, (leaf) => released.has(leaf.id));
      if (!subQuery) return undefined;
      const client = clients.get(provider.providerKey);
      if (!client) throw new Error(`no client for provider ${provider.providerKey}`);
      return {
        providerKey: provider.providerKey,
        outcome: await client.query(subQuery.query, subQuery.variables),
      };
    }),
  );
  const calls = fetches.filter((f): f is ProviderFetch => f !== undefined);
  const outcomes: Record<string, ProviderAnswer> = {};
  for (const { providerKey, outcome } of calls) outcomes[providerKey] = answerOf(providerKey, outcome);
  return { outcomes, calls };
}

/** What the merger needs of a fetch: the data and errors, or the error that stands for the missing answer. */
function answerOf(providerKey: string, outcome: FetchOutcome): ProviderAnswer {
  if (outcome.ok) return { ok: true, data: outcome.data, errors: outcome.errors };
  return {
    ok: false,
    code: outcome.code,
    message:
      outcome.code === 'PROVIDER_UNAVAILABLE'
        ? `${providerKey} did not answer in time or could not be reached`
        : `${providerKey} answered with an error`,
    extensions: { providerKey },
  };
}
