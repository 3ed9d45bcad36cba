/**
 * The query planner: picks the operation, coerces its variables, builds (or reuses) the plan template and binds
 * it to the request. The steps live in their own modules: operation-selection.ts, field-collection.ts,
 * routing.ts, plan-template.ts, sub-query.ts and plan-cache.ts; the plan itself is described in query-plan.ts.
 */
import type { DocumentNode, GraphQLSchema, OperationDefinitionNode } from 'graphql';
import { conditionVariables } from './field-collection.ts';
import type { ArgMapping } from './fl-config.ts';
import { coerceVariables, selectOperation } from './operation-selection.ts';
import { PlanCache, planCacheKey } from './plan-cache.ts';
import { bindPlanTemplate, buildPlanTemplate, type PlanTemplate } from './plan-template.ts';
import type { QueryPlan } from './query-plan.ts';

export interface PlanRequest {
  /** The parsed operation, already validated against the unified schema. */
  document: DocumentNode;
  /** The operation text (the plan cache key, with operationName). */
  source: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

export interface QueryPlannerOptions {
  schema: GraphQLSchema;
  argMappings: readonly ArgMapping[];
  /** Bound of the plan cache (least recently used plans are dropped). Default 500. */
  cacheSize?: number;
  /**
   * Bound of the total length of the operation texts of the cached plans (a template keeps its document's nodes,
   * about 70 bytes of heap per character of text). Default PLAN_CACHE_MAX_TEXT.
   */
  cacheMaxText?: number;
}

export interface QueryPlanner {
  plan(request: PlanRequest): QueryPlan;
  /** Plans currently cached. */
  cachedPlans(): number;
}

/** The default bound of the plan cache's total operation text: 256 K characters (some 20 MB of heap at most). */
export const PLAN_CACHE_MAX_TEXT = 256 * 1024;

/** A planner with an LRU cache of plans keyed by operation text, operation name and @skip/@include values. */
export function createQueryPlanner(options: QueryPlannerOptions): QueryPlanner {
  const cache = new PlanCache<PlanTemplate>(options.cacheSize ?? 500, {
    maxWeight: options.cacheMaxText ?? PLAN_CACHE_MAX_TEXT,
    weigh: (_template, key) => key.length,
  });
  // The variables @skip/@include read, per operation node: the OE's documents come from its bounded document
  // cache, so a repeated query reuses its node, and an entry goes when its document does.
  const conditionsOf = new WeakMap<OperationDefinitionNode, string[]>();
  return {
    plan(request) {
      const operation = selectOperation(request.document, request.operationName ?? undefined);
      // Per request, always: the variable values are coerced against their declared types.
      const variables = coerceVariables(options.schema, operation, request.variables ?? {});
      let names = conditionsOf.get(operation);
      if (!names) {
        names = conditionVariables(request.document, operation);
        conditionsOf.set(operation, names);
      }
      const conditions = names.map((name) => variables[name] === true);
      const key = planCacheKey(request.source, request.operationName ?? undefined, conditions);
      const template = cache.getOrBuild(key, () =>
        buildPlanTemplate(options.schema, options.argMappings, request.document, operation, variables),
      );
      return bindPlanTemplate(template, variables);
    },
    cachedPlans: () => cache.size,
  };
}

/** Plans one request without a cache. */
export function planQuery(
  schema: GraphQLSchema,
  argMappings: readonly ArgMapping[],
  request: Omit<PlanRequest, 'source'>,
): QueryPlan {
  const operation = selectOperation(request.document, request.operationName ?? undefined);
  const variables = coerceVariables(schema, operation, request.variables ?? {});
  return bindPlanTemplate(
    buildPlanTemplate(schema, argMappings, request.document, operation, variables),
    variables,
  );
}
