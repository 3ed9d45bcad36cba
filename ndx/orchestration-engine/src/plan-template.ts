/**
 * A plan template: everything about a plan that depends only on the operation text and its @skip/@include
 * values (the leaves, each provider's selections and sub-query, the unified shape), built once and then bound
 * to each request's argument values.
 */
import {
  getArgumentValues,
  type DocumentNode,
  type FieldNode,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import {
  collectFields,
  collectSubfields,
  fragmentsOf,
  type CollectedFields,
  type CollectionContext,
} from './field-collection.ts';
import type { ArgMapping } from './fl-config.ts';
import { PlanningError } from './planning-error.ts';
import {
  LIST,
  type PlannedLeaf,
  type PlannedRootField,
  type ProviderPlan,
  type ProviderSelection,
  type ProviderVariable,
  type QueryPlan,
  type ShapeNode,
} from './query-plan.ts';
import { rootBindings, rootSchemaId, routeField, segmentsBelow, type ProviderPosition } from './routing.ts';
import type { SourceInfo } from './schema.ts';
import { printSubQuery } from './sub-query.ts';

interface RootTemplate {
  responseKey: string;
  fieldName: string;
  field: GraphQLField<unknown, unknown>;
  node: FieldNode;
}

/** A provider variable whose value is a unified root argument, known only when the template is bound. */
interface VariableTemplate {
  name: string;
  type: string;
  rootKey: string;
  unifiedArgument: string;
}

interface ProviderTemplate {
  providerKey: string;
  schemaId: string;
  fields: string[];
  leafIds: number[];
  selections: ProviderSelection[];
  variables: VariableTemplate[];
  operationName: string;
  query: string;
}

export interface PlanTemplate {
  operationName: string | undefined;
  roots: RootTemplate[];
  leaves: PlannedLeaf[];
  providers: ProviderTemplate[];
  shape: ShapeNode[];
}

/** Builds the template of `operation`; `variables` (coerced) decide @skip/@include. */
export function buildPlanTemplate(
  schema: GraphQLSchema,
  argMappings: readonly ArgMapping[],
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
): PlanTemplate {
  const queryType = schema.getQueryType();
  if (!queryType) throw new PlanningError('OPERATION_NOT_SUPPORTED', 'the schema has no Query type');
  const builder = new TemplateBuilder(argMappings, {
    schema,
    fragments: fragmentsOf(document),
    variables,
  });
  const shape = builder.planRoot(
    queryType,
    collectFields(builder.collection, queryType, operation.selectionSet),
  );
  const providers = [...builder.providers.values()]
    .filter((p) => p.leafIds.length)
    .map((provider) => ({
      ...provider,
      query: printSubQuery(provider.operationName, provider.selections, provider.variables),
    }));
  return {
    operationName: operation.name?.value,
    roots: builder.roots,
    leaves: builder.leaves,
    providers,
    shape,
  };
}

/** The plan of one request: the template with the root arguments (and so the provider variables) filled in. */
export function bindPlanTemplate(template: PlanTemplate, variables: Record<string, unknown>): QueryPlan {
  const rootFields = template.roots.map((root): PlannedRootField => {
    let args: Record<string, unknown>;
    try {
      args = getArgumentValues(root.field, root.node, variables);
    } catch (err) {
      throw new PlanningError('BAD_USER_INPUT', (err as Error).message);
    }
    return { responseKey: root.responseKey, fieldName: root.fieldName, arguments: args };
  });
  const argsByRoot = new Map(rootFields.map((r) => [r.responseKey, r.arguments]));
  const providers = template.providers.map((provider): ProviderPlan => {
    const bound = provider.variables.map((v): ProviderVariable => ({
      name: v.name,
      type: v.type,
      rootKey: v.rootKey,
      unifiedArgument: v.unifiedArgument,
      value: argsByRoot.get(v.rootKey)?.[v.unifiedArgument],
    }));
    return {
      providerKey: provider.providerKey,
      schemaId: provider.schemaId,
      fields: provider.fields,
      leafIds: provider.leafIds,
      selections: provider.selections,
      variables: bound,
      operationName: provider.operationName,
      query: provider.query,
      variableValues: Object.fromEntries(bound.map((v) => [v.name, v.value])),
    };
  });
  return {
    operationName: template.operationName,
    rootFields,
    leaves: template.leaves,
    providers,
    shape: template.shape,
  };
}

/** Where a provider stands (see routing.ts), plus where that position is in the response data. */
interface Anchor extends ProviderPosition {
  /** Response keys from the current cursor (the enclosing list element, or `data`) to that position. */
  keys: string[];
  /** Response-key template from the provider's `data` to that position. */
  providerPath: string[];
  /** Root response key (the provider root field is aliased to it). */
  rootKey: string;
}

type Anchors = Map<string, Anchor>;

class TemplateBuilder {
  readonly roots: RootTemplate[] = [];
  readonly leaves: PlannedLeaf[] = [];
  readonly providers = new Map<string, ProviderTemplate>();
  readonly collection: CollectionContext;
  private readonly argMappings: readonly ArgMapping[];

  constructor(argMappings: readonly ArgMapping[], collection: CollectionContext) {
    this.argMappings = argMappings;
    this.collection = collection;
  }

  planRoot(queryType: GraphQLObjectType, fields: CollectedFields): ShapeNode[] {
    const shape: ShapeNode[] = [];
    for (const [responseKey, nodes] of fields) {
      const node = nodes[0]!;
      const name = node.name.value;
      if (name === '__typename') {
        shape.push({ kind: 'typename', responseKey, typeName: queryType.name });
        continue;
      }
      const field = fieldOf(queryType, name, [responseKey]);
      this.roots.push({ responseKey, fieldName: name, field, node });
      const anchors = this.bindRoot(field, responseKey);
      const route = routeField(field, anchors);
      if (route.kind === 'object') {
        shape.push({
          kind: 'object',
          responseKey,
          children: this.planObject(route.type, nodes, anchors, [responseKey]),
        });
      } else if (route.kind === 'list') {
        shape.push(this.planList(route.source, route.itemType, responseKey, nodes, anchors, [responseKey]));
      } else if (route.kind === 'unroutable' && route.isList) {
        throw unroutable(queryType, field, [responseKey], route.hasSourceInfo);
      } else {
        throw new PlanningError('FIELD_NOT_ROUTABLE', `Query.${name} is not backed by a provider field`);
      }
    }
    // Providers bound to a root field but never used: no selection, no variables.
    for (const provider of this.providers.values()) {
      const usedRoots = new Set(
        provider.selections.filter((s) => s.leafIds.length || s.children.length).map((s) => s.responseKey),
      );
      provider.selections = provider.selections.filter((s) => usedRoots.has(s.responseKey));
      provider.variables = provider.variables.filter((v) => usedRoots.has(v.rootKey));
    }
    return shape;
  }

  /** Every provider the root field reaches gets a root selection aliased to the response key. */
  private bindRoot(field: GraphQLField<unknown, unknown>, responseKey: string): Anchors {
    const anchors: Anchors = new Map();
    for (const binding of rootBindings(field, this.argMappings)) {
      anchors.set(binding.providerKey, {
        path: [binding.providerField],
        keys: [responseKey],
        providerPath: [responseKey],
        rootKey: responseKey,
      });
      const provider = this.provider(binding.providerKey, rootSchemaId(field, binding.providerKey));
      const variableArgs = binding.arguments.map((arg) => {
        const unifiedArg = field.args.find((a) => a.name === arg.unifiedArgument);
        if (!unifiedArg) {
          throw new PlanningError(
            'FIELD_NOT_ROUTABLE',
            `argMappings name ${field.name}.${arg.unifiedArgument}, which the unified schema does not have`,
          );
        }
        const variable = uniqueName(`${responseKey}_${arg.providerArgument}`, provider.variables);
        provider.variables.push({
          name: variable,
          type: String(unifiedArg.type),
          rootKey: responseKey,
          unifiedArgument: arg.unifiedArgument,
        });
        return { name: arg.providerArgument, variable };
      });
      provider.selections.push({
        responseKey,
        fieldName: binding.providerField,
        arguments: variableArgs,
        leafIds: [],
        children: [],
      });
    }
    return anchors;
  }

  private planObject(
    type: GraphQLObjectType,
    parentNodes: readonly FieldNode[],
    anchors: Anchors,
    unifiedPath: string[],
  ): ShapeNode[] {
    const shape: ShapeNode[] = [];
    for (const [responseKey, nodes] of collectSubfields(this.collection, type, parentNodes)) {
      const name = nodes[0]!.name.value;
      const path = [...unifiedPath, responseKey];
      if (name === '__typename') {
        shape.push({ kind: 'typename', responseKey, typeName: type.name });
        continue;
      }
      const field = fieldOf(type, name, path);
      const route = routeField(field, anchors);
      switch (route.kind) {
        case 'leaf':
          shape.push({
            kind: 'leaf',
            responseKey,
            leafId: this.addLeaf(type, field, route.source, anchors, path, false),
          });
          break;
        case 'list':
          shape.push(this.planList(route.source, route.itemType, responseKey, nodes, anchors, path));
          break;
        case 'object':
          shape.push({
            kind: 'object',
            responseKey,
            children: this.planObject(route.type, nodes, anchors, path),
          });
          break;
        case 'unroutable':
          throw unroutable(type, field, path, route.hasSourceInfo);
      }
    }
    return shape;
  }

  private planList(
    source: SourceInfo,
    itemType: GraphQLObjectType,
    responseKey: string,
    nodes: readonly FieldNode[],
    anchors: Anchors,
    path: string[],
  ): ShapeNode {
    const anchor = anchors.get(source.providerKey)!;
    const below = segmentsBelow(source, anchor);
    const elementAnchors: Anchors = new Map([
      [
        source.providerKey,
        {
          path: source.segments,
          keys: [],
          providerPath: [...anchor.providerPath, ...below, LIST],
          rootKey: anchor.rootKey,
        },
      ],
    ]);
    const firstLeaf = this.leaves.length;
    const children = this.planObject(itemType, nodes, elementAnchors, [...path, LIST]);
    if (this.leaves.length === firstLeaf) {
      // Only __typename selected: fetch one (gated) leaf so the provider returns the elements.
      this.addHiddenLeaf(itemType, elementAnchors, [...path, LIST]);
    }
    return {
      kind: 'list',
      responseKey,
      providerKey: source.providerKey,
      keys: [...anchor.keys, ...below],
      leafIds: this.leaves.slice(firstLeaf).map((leaf) => leaf.id),
      children,
    };
  }

  private addHiddenLeaf(type: GraphQLObjectType, anchors: Anchors, path: string[]): void {
    for (const field of Object.values(type.getFields())) {
      const route = routeField(field, anchors);
      if (route.kind === 'leaf') {
        this.addLeaf(type, field, route.source, anchors, [...path, field.name], true);
        return;
      }
    }
    throw new PlanningError('FIELD_NOT_ROUTABLE', `${path.join('.')} has no provider-backed leaf to fetch`);
  }

  private addLeaf(
    type: GraphQLObjectType,
    field: GraphQLField<unknown, unknown>,
    source: SourceInfo,
    anchors: Anchors,
    unifiedPath: string[],
    hidden: boolean,
  ): number {
    const anchor = anchors.get(source.providerKey)!;
    const below = segmentsBelow(source, anchor);
    const leaf: PlannedLeaf = {
      id: this.leaves.length,
      providerKey: source.providerKey,
      schemaId: source.schemaId,
      providerField: source.providerField,
      unifiedField: `${type.name}.${field.name}`,
      unifiedPath,
      providerPath: [...anchor.providerPath, ...below],
      keys: [...anchor.keys, ...below],
      hidden,
    };
    this.leaves.push(leaf);
    const provider = this.provider(source.providerKey, source.schemaId);
    provider.leafIds.push(leaf.id);
    if (!provider.fields.includes(source.providerField)) provider.fields.push(source.providerField);
    // Walk the provider selection tree: root (aliased to the root response key), then plain field names.
    let selection = provider.selections.find((s) => s.responseKey === anchor.rootKey)!;
    for (const segment of source.segments.slice(1)) {
      let child = selection.children.find((c) => c.responseKey === segment);
      if (!child) {
        child = { responseKey: segment, fieldName: segment, arguments: [], leafIds: [], children: [] };
        selection.children.push(child);
      }
      selection = child;
    }
    selection.leafIds.push(leaf.id);
    return leaf.id;
  }

  private provider(providerKey: string, schemaId: string): ProviderTemplate {
    let provider = this.providers.get(providerKey);
    if (!provider) {
      provider = {
        providerKey,
        schemaId,
        fields: [],
        leafIds: [],
        selections: [],
        variables: [],
        operationName: `ndx_${providerKey}`,
        query: '',
      };
      this.providers.set(providerKey, provider);
    }
    if (!provider.schemaId) provider.schemaId = schemaId;
    return provider;
  }
}

function fieldOf(type: GraphQLObjectType, name: string, path: string[]): GraphQLField<unknown, unknown> {
  const field = type.getFields()[name];
  if (!field) {
    throw new PlanningError(
      'UNKNOWN_FIELD',
      `Cannot query field "${name}" on type "${type.name}" (at ${displayPath(path)})`,
    );
  }
  return field;
}

function unroutable(
  type: GraphQLObjectType,
  field: GraphQLField<unknown, unknown>,
  path: string[],
  hasSourceInfo: boolean,
): PlanningError {
  const coordinate = `${type.name}.${field.name}`;
  return new PlanningError(
    'FIELD_NOT_ROUTABLE',
    hasSourceInfo
      ? `${coordinate} (at ${displayPath(path)}) has no @sourceInfo reachable from here`
      : `${coordinate} (at ${displayPath(path)}) has no @sourceInfo`,
    { field: coordinate },
  );
}

function displayPath(path: string[]): string {
  return path.filter((p) => p !== LIST).join('.');
}

function uniqueName(base: string, taken: { name: string }[]): string {
  let candidate = base;
  for (let n = 2; taken.some((t) => t.name === candidate); n++) candidate = `${base}_${n}`;
  return candidate;
}
