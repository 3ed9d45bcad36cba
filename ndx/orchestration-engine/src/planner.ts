import {
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  Kind,
  OperationTypeNode,
  getArgumentValues,
  getDirectiveValues,
  getVariableValues,
  isObjectType,
  parseType,
  print,
  type ArgumentNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
  type VariableDefinitionNode,
} from 'graphql';
import { NdxError } from '@ndx/service-kit';
import type { ArgMapping } from './fl-config.ts';
import {
  applicableSourceInfo,
  isListField,
  objectTypeOf,
  rootBindings,
  sourceInfosOf,
  type SourceInfo,
} from './schema.ts';

/** Marks a list element in path templates: `['personInfo', 'ownedVehicles', LIST, 'make']`. */
export const LIST = '[]';

/** The operation cannot be planned; `code` says why (all map to HTTP 400 / a GraphQL request error). */
export class PlanningError extends NdxError {
  constructor(code: PlanningErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, 400, details);
  }
}
export type PlanningErrorCode =
  | 'OPERATION_NOT_FOUND'
  | 'OPERATION_NOT_SUPPORTED'
  | 'BAD_USER_INPUT'
  | 'UNKNOWN_FIELD'
  | 'UNKNOWN_FRAGMENT'
  | 'FIELD_NOT_ROUTABLE';

/** One provider field a unified leaf reads (PDP decides per providerKey + providerField). */
export interface PlannedLeaf {
  id: number;
  providerKey: string;
  schemaId: string;
  /** Dotted provider path, e.g. `vehiclesByOwner.make` (the PDP field name). */
  providerField: string;
  /** Unified schema coordinate, e.g. `VehicleInfo.make`. */
  unifiedField: string;
  /** Unified response path with LIST for list elements, e.g. `['p', 'ownedVehicles', '[]', 'make']`. */
  unifiedPath: string[];
  /** Response-key path in the provider's `data`, with LIST for list elements, e.g. `['p', '[]', 'make']`. */
  providerPath: string[];
  /** Response keys from the innermost enclosing list element (or from `data`) to the value. */
  keys: string[];
  /** True when the leaf is fetched only so that a list with nothing but `__typename` selected has elements. */
  hidden: boolean;
}

export interface PlannedRootField {
  responseKey: string;
  fieldName: string;
  /** Coerced argument values (variables resolved), e.g. `{ nic: '199012345678' }`. */
  arguments: Record<string, unknown>;
}

/** A field selection in a provider sub-query. */
export interface ProviderSelection {
  responseKey: string;
  fieldName: string;
  /** Only on provider root fields: provider argument → sub-query variable name. */
  arguments: { name: string; variable: string }[];
  /** Leaves whose value is this field. */
  leafIds: number[];
  children: ProviderSelection[];
}

export interface ProviderVariable {
  name: string;
  /** GraphQL type, e.g. `ID!`. */
  type: string;
  value: unknown;
}

/** Everything one provider is asked. */
export interface ProviderPlan {
  providerKey: string;
  schemaId: string;
  /** Distinct provider fields requested (dotted paths), in first-use order. */
  fields: string[];
  leafIds: number[];
  selections: ProviderSelection[];
  variables: ProviderVariable[];
  /** The sub-query for all fields, printed with graphql-js. */
  operationName: string;
  query: string;
  variableValues: Record<string, unknown>;
}

export type ShapeNode =
  | { kind: 'typename'; responseKey: string; typeName: string }
  | { kind: 'leaf'; responseKey: string; leafId: number }
  | { kind: 'object'; responseKey: string; children: ShapeNode[] }
  | {
      kind: 'list';
      responseKey: string;
      providerKey: string;
      /** Keys from the enclosing cursor to the provider list. */
      keys: string[];
      /** All leaves (hidden ones included) under this list. */
      leafIds: number[];
      children: ShapeNode[];
    };

/** A plain-data plan: what each provider is asked and how the answers fold back into the unified shape. */
export interface QueryPlan {
  operationName: string | undefined;
  rootFields: PlannedRootField[];
  leaves: PlannedLeaf[];
  providers: ProviderPlan[];
  /** The unified response shape, in selection order. */
  shape: ShapeNode[];
}

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
  argMappings: ArgMapping[];
  /** Bound of the plan cache (least recently used plans are dropped). Default 500. */
  cacheSize?: number;
}

export interface QueryPlanner {
  plan(request: PlanRequest): QueryPlan;
  /** Plans currently cached. */
  cachedPlans(): number;
}

/** A planner with an LRU cache of plans keyed by operation text, operation name and @skip/@include values. */
export function createQueryPlanner(options: QueryPlannerOptions): QueryPlanner {
  const limit = Math.max(1, options.cacheSize ?? 500);
  const cache = new Map<string, PlanTemplate>();
  return {
    plan(request) {
      const operation = selectOperation(request.document, request.operationName ?? undefined);
      const variables = coerceVariables(options.schema, operation, request.variables ?? {});
      const conditions = conditionVariables(operation, request.document).map(
        (name) => variables[name] === true,
      );
      const key = `${request.operationName ?? ''}\u0000${conditions.map(Number).join('')}\u0000${request.source}`;
      let template = cache.get(key);
      if (template) {
        cache.delete(key);
      } else {
        template = buildTemplate(options.schema, options.argMappings, request.document, operation, variables);
      }
      cache.set(key, template);
      if (cache.size > limit) cache.delete(cache.keys().next().value as string);
      return bindTemplate(template, variables);
    },
    cachedPlans: () => cache.size,
  };
}

/** Plans one request without a cache. */
export function planQuery(
  schema: GraphQLSchema,
  argMappings: ArgMapping[],
  request: Omit<PlanRequest, 'source'>,
): QueryPlan {
  const operation = selectOperation(request.document, request.operationName ?? undefined);
  const variables = coerceVariables(schema, operation, request.variables ?? {});
  return bindTemplate(buildTemplate(schema, argMappings, request.document, operation, variables), variables);
}

export interface SubQuery {
  providerKey: string;
  schemaId: string;
  operationName: string;
  query: string;
  variables: Record<string, unknown>;
  /** The leaves this sub-query fetches. */
  leafIds: number[];
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
    providerKey,
    schemaId: provider.schemaId,
    operationName: provider.operationName,
    query: printSubQuery(provider.operationName, selections, variables),
    variables: Object.fromEntries(variables.map((v) => [v.name, v.value])),
    leafIds: [...kept],
  };
}

// ---------------------------------------------------------------------------------------------------------
// Template: everything that depends only on the operation text and the @skip/@include values.

interface RootTemplate {
  responseKey: string;
  fieldName: string;
  field: GraphQLField<unknown, unknown>;
  node: FieldNode;
}

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

interface PlanTemplate {
  operationName: string | undefined;
  roots: RootTemplate[];
  leaves: PlannedLeaf[];
  providers: ProviderTemplate[];
  shape: ShapeNode[];
}

interface Anchor {
  /** Provider schema path this position maps to. */
  schema: string[];
  /** Response keys from the current cursor to that position. */
  keys: string[];
  /** Response-key template from the provider's `data` to that position. */
  providerPath: string[];
  /** Root response key (the provider root field is aliased to it). */
  rootKey: string;
}

class TemplateBuilder {
  readonly leaves: PlannedLeaf[] = [];
  readonly providers = new Map<string, ProviderTemplate>();
  private readonly schema: GraphQLSchema;
  private readonly argMappings: ArgMapping[];
  private readonly fragments: Map<string, FragmentDefinitionNode>;
  private readonly variables: Record<string, unknown>;

  constructor(
    schema: GraphQLSchema,
    argMappings: ArgMapping[],
    document: DocumentNode,
    variables: Record<string, unknown>,
  ) {
    this.schema = schema;
    this.argMappings = argMappings;
    this.variables = variables;
    this.fragments = new Map(
      document.definitions
        .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
        .map((d) => [d.name.value, d]),
    );
  }

  planRoot(queryType: GraphQLObjectType, selectionSet: SelectionSetNode, roots: RootTemplate[]): ShapeNode[] {
    const shape: ShapeNode[] = [];
    for (const [responseKey, nodes] of this.collectFields(queryType, selectionSet)) {
      const node = nodes[0]!;
      const name = node.name.value;
      if (name === '__typename') {
        shape.push({ kind: 'typename', responseKey, typeName: queryType.name });
        continue;
      }
      const field = this.fieldOf(queryType, name, [responseKey]);
      roots.push({ responseKey, fieldName: name, field, node });
      const anchors = new Map<string, Anchor>();
      for (const binding of rootBindings(field, this.argMappings)) {
        anchors.set(binding.providerKey, {
          schema: [binding.providerField],
          keys: [responseKey],
          providerPath: [responseKey],
          rootKey: responseKey,
        });
        const provider = this.provider(binding.providerKey, sourceSchemaId(field, binding.providerKey));
        const variableArgs = binding.arguments.map((arg) => {
          const unifiedArg = field.args.find((a) => a.name === arg.unifiedArgument);
          if (!unifiedArg) {
            throw new PlanningError(
              'FIELD_NOT_ROUTABLE',
              `argMappings name ${name}.${arg.unifiedArgument}, which the unified schema does not have`,
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
      const objectType = objectTypeOf(field);
      if (!objectType) {
        throw new PlanningError('FIELD_NOT_ROUTABLE', `Query.${name} is not backed by a provider field`);
      }
      const selections = mergedSelections(nodes);
      if (isListField(field)) {
        shape.push(
          this.planList(field, responseKey, anchors, [responseKey], selections, objectType, queryType),
        );
      } else {
        shape.push({
          kind: 'object',
          responseKey,
          children: this.planObject(objectType, selections, anchors, [responseKey]),
        });
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

  private planObject(
    type: GraphQLObjectType,
    selectionSet: SelectionSetNode,
    anchors: Map<string, Anchor>,
    unifiedPath: string[],
  ): ShapeNode[] {
    const shape: ShapeNode[] = [];
    for (const [responseKey, nodes] of this.collectFields(type, selectionSet)) {
      const name = nodes[0]!.name.value;
      const path = [...unifiedPath, responseKey];
      if (name === '__typename') {
        shape.push({ kind: 'typename', responseKey, typeName: type.name });
        continue;
      }
      const field = this.fieldOf(type, name, path);
      const objectType = objectTypeOf(field);
      if (!objectType) {
        const source = this.sourceFor(type, field, anchors, path);
        shape.push({
          kind: 'leaf',
          responseKey,
          leafId: this.addLeaf(type, field, source, anchors, path, false),
        });
      } else if (isListField(field)) {
        shape.push(
          this.planList(field, responseKey, anchors, path, mergedSelections(nodes), objectType, type),
        );
      } else {
        shape.push({
          kind: 'object',
          responseKey,
          children: this.planObject(objectType, mergedSelections(nodes), anchors, path),
        });
      }
    }
    return shape;
  }

  private planList(
    field: GraphQLField<unknown, unknown>,
    responseKey: string,
    anchors: Map<string, Anchor>,
    path: string[],
    selections: SelectionSetNode,
    itemType: GraphQLObjectType,
    parentType: GraphQLObjectType,
  ): ShapeNode {
    const source = this.sourceFor(parentType, field, anchors, path, true);
    const anchor = anchors.get(source.providerKey)!;
    const relative = source.segments.slice(anchor.schema.length);
    const elementAnchor: Anchor = {
      schema: source.segments,
      keys: [],
      providerPath: [...anchor.providerPath, ...relative, LIST],
      rootKey: anchor.rootKey,
    };
    const firstLeaf = this.leaves.length;
    const children = this.planObject(itemType, selections, new Map([[source.providerKey, elementAnchor]]), [
      ...path,
      LIST,
    ]);
    if (this.leaves.length === firstLeaf) {
      // Only __typename selected: fetch one (gated) leaf so the provider returns the elements.
      this.addHiddenLeaf(itemType, new Map([[source.providerKey, elementAnchor]]), [...path, LIST]);
    }
    return {
      kind: 'list',
      responseKey,
      providerKey: source.providerKey,
      keys: [...anchor.keys, ...relative],
      leafIds: this.leaves.slice(firstLeaf).map((leaf) => leaf.id),
      children,
    };
  }

  private addHiddenLeaf(type: GraphQLObjectType, anchors: Map<string, Anchor>, path: string[]): void {
    for (const field of Object.values(type.getFields())) {
      const objectType = objectTypeOf(field);
      if (objectType) continue;
      const source = applicableSourceInfo(field, new Map([...anchors].map(([k, a]) => [k, a.schema])));
      if (source) {
        this.addLeaf(type, field, source, anchors, [...path, field.name], true);
        return;
      }
    }
    throw new PlanningError('FIELD_NOT_ROUTABLE', `${path.join('.')} has no provider-backed leaf to fetch`);
  }

  private sourceFor(
    type: GraphQLObjectType,
    field: GraphQLField<unknown, unknown>,
    anchors: Map<string, Anchor>,
    path: string[],
    isList = false,
  ): SourceInfo {
    const schemaAnchors = new Map([...anchors].map(([key, anchor]) => [key, anchor.schema]));
    const source = applicableSourceInfo(field, schemaAnchors, isList);
    if (!source) {
      const where = path.filter((p) => p !== LIST).join('.');
      throw new PlanningError(
        'FIELD_NOT_ROUTABLE',
        sourceInfosOf(field).length
          ? `${type.name}.${field.name} (at ${where}) has no @sourceInfo reachable from here`
          : `${type.name}.${field.name} (at ${where}) has no @sourceInfo`,
        { field: `${type.name}.${field.name}` },
      );
    }
    return source;
  }

  private addLeaf(
    type: GraphQLObjectType,
    field: GraphQLField<unknown, unknown>,
    source: SourceInfo,
    anchors: Map<string, Anchor>,
    unifiedPath: string[],
    hidden: boolean,
  ): number {
    const anchor = anchors.get(source.providerKey)!;
    const relative = source.segments.slice(anchor.schema.length);
    const leaf: PlannedLeaf = {
      id: this.leaves.length,
      providerKey: source.providerKey,
      schemaId: source.schemaId,
      providerField: source.providerField,
      unifiedField: `${type.name}.${field.name}`,
      unifiedPath,
      providerPath: [...anchor.providerPath, ...relative],
      keys: [...anchor.keys, ...relative],
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

  private fieldOf(type: GraphQLObjectType, name: string, path: string[]): GraphQLField<unknown, unknown> {
    const field = type.getFields()[name];
    if (!field) {
      throw new PlanningError(
        'UNKNOWN_FIELD',
        `Cannot query field "${name}" on type "${type.name}" (at ${path.filter((p) => p !== LIST).join('.')})`,
      );
    }
    return field;
  }

  /** Fields by response key, after fragments, inline fragments and @skip/@include (graphql-js CollectFields). */
  private collectFields(
    type: GraphQLObjectType,
    selectionSet: SelectionSetNode,
    into = new Map<string, FieldNode[]>(),
    visited = new Set<string>(),
  ): Map<string, FieldNode[]> {
    for (const selection of selectionSet.selections) {
      if (!this.included(selection)) continue;
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        const list = into.get(key);
        if (list) list.push(selection);
        else into.set(key, [selection]);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (!this.typeMatches(selection.typeCondition?.name.value, type)) continue;
        this.collectFields(type, selection.selectionSet, into, visited);
      } else {
        const name = selection.name.value;
        if (visited.has(name)) continue;
        visited.add(name);
        const fragment = this.fragments.get(name);
        if (!fragment) throw new PlanningError('UNKNOWN_FRAGMENT', `Unknown fragment "${name}"`);
        if (!this.typeMatches(fragment.typeCondition.name.value, type)) continue;
        this.collectFields(type, fragment.selectionSet, into, visited);
      }
    }
    return into;
  }

  private typeMatches(condition: string | undefined, type: GraphQLObjectType): boolean {
    if (condition === undefined || condition === type.name) return true;
    const conditionType = this.schema.getType(condition);
    if (!conditionType) throw new PlanningError('UNKNOWN_FIELD', `Unknown type "${condition}"`);
    return !isObjectType(conditionType) && this.schema.isSubType(conditionType as never, type);
  }

  private included(node: SelectionNode): boolean {
    const skip = getDirectiveValues(GraphQLSkipDirective, node, this.variables);
    if (skip?.['if'] === true) return false;
    const include = getDirectiveValues(GraphQLIncludeDirective, node, this.variables);
    return include?.['if'] !== false;
  }
}

function buildTemplate(
  schema: GraphQLSchema,
  argMappings: ArgMapping[],
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
): PlanTemplate {
  const queryType = schema.getQueryType();
  if (!queryType) throw new PlanningError('OPERATION_NOT_SUPPORTED', 'the schema has no Query type');
  const builder = new TemplateBuilder(schema, argMappings, document, variables);
  const roots: RootTemplate[] = [];
  const shape = builder.planRoot(queryType, operation.selectionSet, roots);
  const providers = [...builder.providers.values()]
    .filter((p) => p.leafIds.length)
    .map((provider) => ({
      ...provider,
      query: printSubQuery(provider.operationName, provider.selections, provider.variables),
    }));
  return { operationName: operation.name?.value, roots, leaves: builder.leaves, providers, shape };
}

function bindTemplate(template: PlanTemplate, variables: Record<string, unknown>): QueryPlan {
  const rootFields = template.roots.map((root): PlannedRootField => {
    let args: Record<string, unknown>;
    try {
      args = getArgumentValues(root.field as GraphQLField<unknown, unknown>, root.node, variables);
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

function printSubQuery(
  operationName: string,
  selections: ProviderSelection[],
  variables: { name: string; type: string }[],
): string {
  const toField = (selection: ProviderSelection): FieldNode => ({
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
      ? { kind: Kind.SELECTION_SET, selections: selection.children.map(toField) }
      : undefined,
  });
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
        selectionSet: { kind: Kind.SELECTION_SET, selections: selections.map(toField) },
      },
    ],
  };
  return print(document);
}

function selectOperation(document: DocumentNode, operationName: string | undefined): OperationDefinitionNode {
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  let operation: OperationDefinitionNode | undefined;
  if (operationName) {
    operation = operations.find((o) => o.name?.value === operationName);
    if (!operation)
      throw new PlanningError('OPERATION_NOT_FOUND', `Unknown operation named "${operationName}"`);
  } else {
    if (operations.length !== 1) {
      throw new PlanningError(
        'OPERATION_NOT_FOUND',
        operations.length
          ? 'Must provide operation name if query contains multiple operations'
          : 'No operation',
      );
    }
    operation = operations[0]!;
  }
  if (operation.operation !== OperationTypeNode.QUERY) {
    throw new PlanningError(
      'OPERATION_NOT_SUPPORTED',
      `Only queries are supported, not ${operation.operation}`,
    );
  }
  return operation;
}

function coerceVariables(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  inputs: Record<string, unknown>,
): Record<string, unknown> {
  const result = getVariableValues(schema, operation.variableDefinitions ?? [], inputs, { maxErrors: 5 });
  if (result.errors) {
    throw new PlanningError('BAD_USER_INPUT', result.errors.map((e) => e.message).join('; '));
  }
  return result.coerced;
}

/** Variables used by @skip/@include anywhere in the operation or its fragments (they change the plan). */
function conditionVariables(operation: OperationDefinitionNode, document: DocumentNode): string[] {
  const names = new Set<string>();
  const scan = (selectionSet: SelectionSetNode | undefined): void => {
    for (const selection of selectionSet?.selections ?? []) {
      for (const directive of selection.directives ?? []) {
        if (directive.name.value !== 'skip' && directive.name.value !== 'include') continue;
        for (const arg of directive.arguments ?? []) {
          if (arg.value.kind === Kind.VARIABLE) names.add(arg.value.name.value);
        }
      }
      if (selection.kind !== Kind.FRAGMENT_SPREAD) scan(selection.selectionSet);
    }
  };
  scan(operation.selectionSet);
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) scan(definition.selectionSet);
  }
  return [...names].sort();
}

function mergedSelections(nodes: FieldNode[]): SelectionSetNode {
  return {
    kind: Kind.SELECTION_SET,
    selections: nodes.flatMap((node) => node.selectionSet?.selections ?? []),
  };
}

function sourceSchemaId(field: GraphQLField<unknown, unknown>, providerKey: string): string {
  // The schema id comes from the leaves' @sourceInfo; a root field only knows it when it carries one itself.
  return sourceInfosOf(field).find((info) => info.providerKey === providerKey)?.schemaId ?? '';
}

function uniqueName(base: string, taken: { name: string }[]): string {
  let candidate = base;
  for (let n = 2; taken.some((t) => t.name === candidate); n++) candidate = `${base}_${n}`;
  return candidate;
}
