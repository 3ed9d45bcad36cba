/**
 * The routing rules of the unified schema, in one place: how a unified root field reaches each provider (with
 * which arguments), and which @sourceInfo a field reads at a given position of the unified tree. The planner
 * follows them for the fields an operation selects; the schema check follows them for every field.
 */
import type { GraphQLField, GraphQLObjectType } from 'graphql';
import type { ArgMapping } from './fl-config.ts';
import { isListField, objectTypeOf, sourceInfosOf, type SourceInfo } from './schema.ts';

/** How a unified root field reaches a provider: the provider root field and the arguments passed to it. */
export interface RootBinding {
  providerKey: string;
  providerField: string;
  /** Provider argument name → unified argument name. */
  arguments: { providerArgument: string; unifiedArgument: string }[];
}

/**
 * Where a provider stands at a position of the unified tree: the provider schema path (from the provider's
 * Query type) that the position maps to. Callers keep their own bookkeeping beside `path`.
 */
export interface ProviderPosition {
  readonly path: readonly string[];
}

/** The position of every provider reachable here, by providerKey. */
export type ProviderPositions = ReadonlyMap<string, ProviderPosition>;

/**
 * The providers a unified root field reaches: from argMappings (`personInfo.nic` → `person.nic`) and from
 * an @sourceInfo on the root field itself (an argument-less root such as `vehicleClasses`).
 */
export function rootBindings(
  rootField: GraphQLField<unknown, unknown>,
  argMappings: readonly ArgMapping[],
): RootBinding[] {
  const bindings = new Map<string, RootBinding>();
  for (const mapping of argMappings) {
    if (mapping.unifiedField !== rootField.name) continue;
    let binding = bindings.get(mapping.providerKey);
    if (!binding) {
      binding = { providerKey: mapping.providerKey, providerField: mapping.providerField, arguments: [] };
      bindings.set(mapping.providerKey, binding);
    }
    binding.arguments.push({
      providerArgument: mapping.providerArgument,
      unifiedArgument: mapping.unifiedArgument,
    });
  }
  for (const info of sourceInfosOf(rootField)) {
    if (!bindings.has(info.providerKey) && info.segments[0]) {
      bindings.set(info.providerKey, {
        providerKey: info.providerKey,
        providerField: info.segments[0],
        arguments: [],
      });
    }
  }
  return [...bindings.values()];
}

/** The schema id a root binding's provider is checked against, when the root field itself names it. */
export function rootSchemaId(rootField: GraphQLField<unknown, unknown>, providerKey: string): string {
  // The schema id comes from the leaves' @sourceInfo; a root field only knows it when it carries one itself.
  return sourceInfosOf(rootField).find((info) => info.providerKey === providerKey)?.schemaId ?? '';
}

/** Where a unified field leads at a position of the unified tree, by the routing rules of @sourceInfo. */
export type FieldRoute =
  /** A leaf: the provider field holding its value. */
  | { kind: 'leaf'; source: SourceInfo }
  /** An object field that only groups fields: its fields are routed from the same positions. */
  | { kind: 'object'; type: GraphQLObjectType }
  /**
   * A list: the provider list whose elements become its elements. Inside an element only that provider is
   * reachable, at the list's path (`source.segments`).
   */
  | { kind: 'list'; source: SourceInfo; itemType: GraphQLObjectType }
  /** No @sourceInfo of the field applies here (or it has none); `isList` for a list of objects. */
  | { kind: 'unroutable'; isList: boolean; hasSourceInfo: boolean };

/**
 * Routes a unified field at `positions`. A leaf reads the @sourceInfo whose path extends its provider's
 * position; a list field the one whose path extends or equals it (the list may be the provider root field
 * itself, e.g. `vehiclesByOwner`); any other object field carries none.
 */
export function routeField(field: GraphQLField<unknown, unknown>, positions: ProviderPositions): FieldRoute {
  const type = objectTypeOf(field);
  if (type && !isListField(field)) return { kind: 'object', type };
  const isList = type !== undefined; // a list of objects; anything else is a leaf (a list of scalars too)
  const source = sourceInfosOf(field).find((info) => {
    const position = positions.get(info.providerKey)?.path;
    return (
      position !== undefined &&
      (info.segments.length > position.length || (isList && info.segments.length === position.length)) &&
      position.every((segment, i) => info.segments[i] === segment)
    );
  });
  if (!source) return { kind: 'unroutable', isList, hasSourceInfo: sourceInfosOf(field).length > 0 };
  return type ? { kind: 'list', source, itemType: type } : { kind: 'leaf', source };
}

/** The provider path segments from a provider's position down to a routed field. */
export function segmentsBelow(source: SourceInfo, position: ProviderPosition): string[] {
  return source.segments.slice(position.path.length);
}
