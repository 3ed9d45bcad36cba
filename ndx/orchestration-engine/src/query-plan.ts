/**
 * The plan of one query: plain data saying what each provider is asked and how the answers fold back into the
 * unified shape. The planner produces it; gating, fetching, merging and the audit record read it.
 */

/** Marks a list element in path templates: `['personInfo', 'ownedVehicles', LIST, 'make']`. */
export const LIST = '[]';

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
  /** Where the value comes from: the unified root field (by response key) and its argument. */
  rootKey: string;
  unifiedArgument: string;
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
