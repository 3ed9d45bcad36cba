/** The GraphQL text a provider is sent: a plan's provider selections as an AST, printed with graphql-js. */
import {
  Kind,
  OperationTypeNode,
  parseType,
  print,
  type ArgumentNode,
  type DocumentNode,
  type FieldNode,
  type VariableDefinitionNode,
} from 'graphql';
import { PlanCache } from './plan-cache.ts';
import type { PlannedLeaf, ProviderSelection, QueryPlan } from './query-plan.ts';

export interface SubQuery {
  query: string;
  variables: Record<string, unknown>;
}

/**
 * The sub-query for one provider, keeping only the leaves `keep` accepts (e.g. the PDP-permitted ones);
 * undefined when nothing of this provider is left to fetch.
 */
export function buildSubQuery(
  plan: QueryPlan,
  providerKey: string,
  keep: (leaf: PlannedLeaf) => boolean = () => true,
): SubQuery | undefined {
  const provider = plan.providers.find((p) => p.providerKey === providerKey);
  if (!provider) return undefined;
  const keptIds = provider.leafIds.filter((id) => keep(plan.leaves[id]!));
  if (!keptIds.length) return undefined;
  // Everything released (the usual case): the template's sub-query, printed when the plan was built.
  if (keptIds.length === provider.leafIds.length) {
    return { query: provider.query, variables: { ...provider.variableValues } };
  }
  const kept = new Set(keptIds);
  const prune = (selection: ProviderSelection): ProviderSelection | undefined => {
    const children = selection.children.map(prune).filter((c): c is ProviderSelection => c !== undefined);
    const leafIds = selection.leafIds.filter((id) => kept.has(id));
    if (!children.length && !leafIds.length) return undefined;
    return { ...selection, children, leafIds };
  };
  const selections = provider.selections.map(prune).filter((s): s is ProviderSelection => s !== undefined);
  const used = new Set(selections.flatMap((s) => s.arguments.map((a) => a.variable)));
  const variables = provider.variables.filter((v) => used.has(v.name));
  return {
    query: printedFor(provider.selections, keptIds.join(','), () =>
      printSubQuery(provider.operationName, selections, variables),
    ),
    variables: Object.fromEntries(variables.map((v) => [v.name, v.value])),
  };
}

/** Printed sub-queries of a subset of a provider's leaves, kept per plan template (bounded per template). */
const PRINTED_SUBSETS_PER_PROVIDER = 16;
const printedSubsets = new WeakMap<readonly ProviderSelection[], PlanCache<string>>();

/** How many subsets of a provider's leaves have their printed sub-query cached for this plan's template. */
export function cachedSubQueries(plan: QueryPlan, providerKey: string): number {
  const provider = plan.providers.find((p) => p.providerKey === providerKey);
  return provider ? (printedSubsets.get(provider.selections)?.size ?? 0) : 0;
}

/**
 * The printed sub-query for these kept leaves of a provider plan. The selections array is the plan template's
 * (shared by every plan bound from it), so the entry lives as long as the template stays in the plan cache.
 */
function printedFor(selections: readonly ProviderSelection[], keptKey: string, print: () => string): string {
  let printed = printedSubsets.get(selections);
  if (!printed) {
    printed = new PlanCache<string>(PRINTED_SUBSETS_PER_PROVIDER);
    printedSubsets.set(selections, printed);
  }
  return printed.getOrBuild(keptKey, print);
}

/** Prints `query operationName($v: Type …) { selections }`; argument values are always variables. */
export function printSubQuery(
  operationName: string,
  selections: readonly ProviderSelection[],
  variables: readonly { name: string; type: string }[],
): string {
  const document: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [
      {
        kind: Kind.OPERATION_DEFINITION,
        operation: OperationTypeNode.QUERY,
        name: { kind: Kind.NAME, value: operationName },
        variableDefinitions: variables.map((v): VariableDefinitionNode => ({
          kind: Kind.VARIABLE_DEFINITION,
          variable: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: v.name } },
          type: parseType(v.type),
        })),
        selectionSet: { kind: Kind.SELECTION_SET, selections: selections.map(fieldNode) },
      },
    ],
  };
  return print(document);
}

function fieldNode(selection: ProviderSelection): FieldNode {
  return {
    kind: Kind.FIELD,
    alias:
      selection.responseKey === selection.fieldName
        ? undefined
        : { kind: Kind.NAME, value: selection.responseKey },
    name: { kind: Kind.NAME, value: selection.fieldName },
    arguments: selection.arguments.map((arg): ArgumentNode => ({
      kind: Kind.ARGUMENT,
      name: { kind: Kind.NAME, value: arg.name },
      value: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: arg.variable } },
    })),
    selectionSet: selection.children.length
      ? { kind: Kind.SELECTION_SET, selections: selection.children.map(fieldNode) }
      : undefined,
  };
}
