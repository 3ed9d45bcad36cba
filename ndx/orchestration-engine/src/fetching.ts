import { buildSubQuery, type QueryPlan } from './planner.ts';
import type { ProviderOutcome } from './planner-merge.ts';
import type { ProviderCallOutcome, ProviderClient } from './provider-client.ts';

export interface ProviderCallRecord {
  providerKey: string;
  outcome: ProviderCallOutcome;
}

export interface FetchResult {
  /** For the merge: one outcome per provider that was asked. */
  outcomes: Record<string, ProviderOutcome>;
  calls: ProviderCallRecord[];
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
  const calls = await Promise.all(
    plan.providers.map(async (provider): Promise<ProviderCallRecord | undefined> => {
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
  const made = calls.filter((c): c is ProviderCallRecord => c !== undefined);
  const outcomes: Record<string, ProviderOutcome> = {};
  for (const { providerKey, outcome } of made) {
    outcomes[providerKey] = outcome.ok
      ? { ok: true, data: outcome.data, errors: outcome.errors }
      : {
          ok: false,
          code: outcome.code,
          message:
            outcome.code === 'PROVIDER_UNAVAILABLE'
              ? `${providerKey} did not answer in time or could not be reached`
              : `${providerKey} answered with an error`,
          extensions: { providerKey },
        };
  }
  return { outcomes, calls: made };
}
