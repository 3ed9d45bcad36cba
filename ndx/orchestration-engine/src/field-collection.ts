/**
 * Field collection as graphql-js executes it (CollectFields): named and inline fragments, @skip/@include,
 * fields merged by response key. graphql-js 16 does not export its collector, so this follows it with
 * graphql-js's own pieces (getDirectiveValues for the directives, typeFromAST for type conditions), and
 * reports an unknown fragment or type instead of skipping it.
 */
import {
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  Kind,
  getDirectiveValues,
  isAbstractType,
  typeFromAST,
  visit,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type FragmentSpreadNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  type InlineFragmentNode,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import { PlanningError } from './planning-error.ts';

/** What field collection needs besides the selections: the schema, the fragments and the variable values. */
export interface CollectionContext {
  schema: GraphQLSchema;
  fragments: ReadonlyMap<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
}

/** Fields by response key, in selection order. */
export type CollectedFields = Map<string, FieldNode[]>;

export function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  return new Map(
    document.definitions
      .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
      .map((d) => [d.name.value, d]),
  );
}

/** The fields a selection set selects on `type`, after fragments and @skip/@include. */
export function collectFields(
  context: CollectionContext,
  type: GraphQLObjectType,
  selectionSet: SelectionSetNode,
): CollectedFields {
  return collectInto(context, type, selectionSet, new Map(), new Set());
}

/** The sub-fields selected under all the nodes of one response key (graphql-js collectSubfields). */
export function collectSubfields(
  context: CollectionContext,
  type: GraphQLObjectType,
  nodes: readonly FieldNode[],
): CollectedFields {
  const fields: CollectedFields = new Map();
  const visited = new Set<string>();
  for (const node of nodes) {
    if (node.selectionSet) collectInto(context, type, node.selectionSet, fields, visited);
  }
  return fields;
}

/** Variables used by @skip/@include in the operation or in any fragment (their values change the plan). */
export function conditionVariables(document: DocumentNode, operation: OperationDefinitionNode): string[] {
  const names = new Set<string>();
  const scan = (definition: OperationDefinitionNode | FragmentDefinitionNode) =>
    visit(definition, {
      Directive(directive) {
        if (
          directive.name.value !== GraphQLSkipDirective.name &&
          directive.name.value !== GraphQLIncludeDirective.name
        )
          return;
        for (const arg of directive.arguments ?? []) {
          if (arg.value.kind === Kind.VARIABLE) names.add(arg.value.name.value);
        }
      },
    });
  scan(operation);
  for (const fragment of fragmentsOf(document).values()) scan(fragment);
  return [...names].sort();
}

function collectInto(
  context: CollectionContext,
  type: GraphQLObjectType,
  selectionSet: SelectionSetNode,
  fields: CollectedFields,
  visited: Set<string>,
): CollectedFields {
  for (const selection of selectionSet.selections) {
    if (!shouldInclude(context, selection)) continue;
    switch (selection.kind) {
      case Kind.FIELD: {
        const key = selection.alias?.value ?? selection.name.value;
        const list = fields.get(key);
        if (list) list.push(selection);
        else fields.set(key, [selection]);
        break;
      }
      case Kind.INLINE_FRAGMENT:
        if (conditionMatches(context, selection, type)) {
          collectInto(context, type, selection.selectionSet, fields, visited);
        }
        break;
      case Kind.FRAGMENT_SPREAD: {
        const name = selection.name.value;
        if (visited.has(name)) continue;
        visited.add(name);
        const fragment = fragmentOf(context, selection);
        if (conditionMatches(context, fragment, type)) {
          collectInto(context, type, fragment.selectionSet, fields, visited);
        }
        break;
      }
    }
  }
  return fields;
}

/** @skip(if:) and @include(if:), literal or variable (graphql-js shouldIncludeNode). */
function shouldInclude(context: CollectionContext, node: SelectionNode): boolean {
  if (getDirectiveValues(GraphQLSkipDirective, node, context.variables)?.['if'] === true) return false;
  return getDirectiveValues(GraphQLIncludeDirective, node, context.variables)?.['if'] !== false;
}

function fragmentOf(context: CollectionContext, spread: FragmentSpreadNode): FragmentDefinitionNode {
  const fragment = context.fragments.get(spread.name.value);
  if (!fragment) throw new PlanningError('UNKNOWN_FRAGMENT', `Unknown fragment "${spread.name.value}"`);
  return fragment;
}

/** graphql-js doesFragmentConditionMatch, with an unknown type condition reported. */
function conditionMatches(
  context: CollectionContext,
  fragment: InlineFragmentNode | FragmentDefinitionNode,
  type: GraphQLObjectType,
): boolean {
  if (!fragment.typeCondition) return true;
  const condition = typeFromAST(context.schema, fragment.typeCondition);
  if (!condition) {
    throw new PlanningError('UNKNOWN_FIELD', `Unknown type "${fragment.typeCondition.name.value}"`);
  }
  if (condition === type) return true;
  return isAbstractType(condition) && context.schema.isSubType(condition, type);
}
