import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  buildSchema,
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  valueFromASTUntyped,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import { ConfigError } from '@ndx/service-kit';
import type { ArgMapping } from './fl-config.ts';

/** ndx/schema.graphql; UNIFIED_SCHEMA_PATH overrides it. */
export const defaultUnifiedSchemaPath = resolve(import.meta.dirname, '..', '..', 'schema.graphql');

/** One @sourceInfo on a unified field. */
export interface SourceInfo {
  providerKey: string;
  schemaId: string;
  /** Dotted provider path from the provider's Query type, e.g. `vehiclesByOwner.classes.className`. */
  providerField: string;
  /** providerField split at the dots. */
  segments: string[];
}

/** Builds the unified schema from SDL text; a syntax or type error is a ConfigError. */
export function buildUnifiedSchema(sdl: string, source = 'ndx/schema.graphql'): GraphQLSchema {
  try {
    return buildSchema(sdl);
  } catch (err) {
    throw new ConfigError(`${source} is not a valid GraphQL schema: ${(err as Error).message}`);
  }
}

/** Reads and builds ndx/schema.graphql (or `path`). */
export function loadUnifiedSchema(path = process.env['UNIFIED_SCHEMA_PATH'] ?? defaultUnifiedSchemaPath): {
  schema: GraphQLSchema;
  sdl: string;
} {
  let sdl: string;
  try {
    sdl = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the unified schema ${path}: ${(err as Error).message}`);
  }
  return { schema: buildUnifiedSchema(sdl, path), sdl };
}

const sourceInfoCache = new WeakMap<GraphQLField<unknown, unknown>, SourceInfo[]>();

/** Every @sourceInfo on a field, in declaration order (empty when the field has none). */
export function sourceInfosOf(field: GraphQLField<unknown, unknown>): SourceInfo[] {
  const cached = sourceInfoCache.get(field);
  if (cached) return cached;
  const infos: SourceInfo[] = [];
  for (const directive of field.astNode?.directives ?? []) {
    if (directive.name.value !== 'sourceInfo') continue;
    const args: Record<string, unknown> = {};
    for (const arg of directive.arguments ?? []) args[arg.name.value] = valueFromASTUntyped(arg.value);
    const providerKey = typeof args['providerKey'] === 'string' ? args['providerKey'] : '';
    const schemaId = typeof args['schemaId'] === 'string' ? args['schemaId'] : '';
    const providerField = typeof args['providerField'] === 'string' ? args['providerField'] : '';
    infos.push({ providerKey, schemaId, providerField, segments: providerField.split('.') });
  }
  sourceInfoCache.set(field, infos);
  return infos;
}

/** How a unified root field reaches a provider: the provider root field and the arguments passed to it. */
export interface RootBinding {
  providerKey: string;
  providerField: string;
  /** Provider argument name → unified argument name. */
  arguments: { providerArgument: string; unifiedArgument: string }[];
}

/**
 * The providers a unified root field reaches: from argMappings (`personInfo.nic` → `person.nic`) and from
 * an @sourceInfo on the root field itself (an argument-less root such as `vehicleClasses`).
 */
export function rootBindings(
  rootField: GraphQLField<unknown, unknown>,
  argMappings: ArgMapping[],
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

/** Where a provider stands inside the unified tree: the provider schema path the current position maps to. */
export type ProviderAnchors = ReadonlyMap<string, readonly string[]>;

/**
 * The @sourceInfo of a field that applies under the given anchors: its path extends the provider's anchor
 * (or, for a list field, may equal it: the list is the provider root field itself, e.g. `vehiclesByOwner`).
 */
export function applicableSourceInfo(
  field: GraphQLField<unknown, unknown>,
  anchors: ProviderAnchors,
  allowEqual = false,
): SourceInfo | undefined {
  return sourceInfosOf(field).find((info) => {
    const anchor = anchors.get(info.providerKey);
    return (
      anchor !== undefined &&
      (info.segments.length > anchor.length || (allowEqual && info.segments.length === anchor.length)) &&
      anchor.every((segment, i) => info.segments[i] === segment)
    );
  });
}

/** True for a field whose (non-null-stripped) type is a list. */
export function isListField(field: GraphQLField<unknown, unknown>): boolean {
  return isListType(getNullableType(field.type));
}

/** The object type of a field, or undefined when it is a leaf. */
export function objectTypeOf(field: GraphQLField<unknown, unknown>): GraphQLObjectType | undefined {
  const named = getNamedType(field.type);
  return isObjectType(named) ? named : undefined;
}
