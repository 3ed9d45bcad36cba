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
  const kept = new Set(provider.leafIds.filter((id) => keep(plan.leaves[id]!)));
  if (!kept.size) return undefined;
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
    query: printSubQuery(provider.operationName, selections, variables),
    variables: Object.fromEntries(variables.map((v) => [v.name, v.value])),
  };
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
