import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { getDirective, mapSchema, MapperKind } from '@graphql-tools/utils';
import { ConfigError } from '@ndx/service-kit';

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

declare module 'graphql' {
  interface GraphQLFieldExtensions<_TSource, _TContext, _TArgs> {
    /** The field's @sourceInfo directives, read once when the unified schema is built. */
    sourceInfo?: readonly SourceInfo[];
  }
}

/**
 * Builds the unified schema from SDL text (graphql-tools' makeExecutableSchema) and attaches every field's
 * @sourceInfo to its `extensions`; a syntax, type or directive error is a ConfigError.
 */
export function buildUnifiedSchema(sdl: string, source = 'ndx/schema.graphql'): GraphQLSchema {
  let built: GraphQLSchema;
  try {
    built = makeExecutableSchema({ typeDefs: sdl });
  } catch (err) {
    throw new ConfigError(`${source} is not a valid GraphQL schema: ${(err as Error).message}`);
  }
  return mapSchema(built, {
    [MapperKind.OBJECT_FIELD]: (fieldConfig, fieldName, typeName) => {
      let directives: Record<string, unknown>[];
      try {
        directives = getDirective(built, fieldConfig, 'sourceInfo') ?? [];
      } catch (err) {
        throw new ConfigError(`${source}: ${typeName}.${fieldName} @sourceInfo: ${(err as Error).message}`);
      }
      const sourceInfo = directives.map((args): SourceInfo => {
        const providerField = String(args['providerField']);
        return {
          providerKey: String(args['providerKey']),
          schemaId: String(args['schemaId']),
          providerField,
          segments: providerField.split('.'),
        };
      });
      return { ...fieldConfig, extensions: { ...fieldConfig.extensions, sourceInfo } };
    },
  });
}

/** Reads and builds ndx/schema.graphql (or `path`). */
export function loadUnifiedSchema(path = process.env['UNIFIED_SCHEMA_PATH'] ?? defaultUnifiedSchemaPath): {
  schema: GraphQLSchema;
} {
  let sdl: string;
  try {
    sdl = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the unified schema ${path}: ${(err as Error).message}`);
  }
  return { schema: buildUnifiedSchema(sdl, path) };
}

/** Every @sourceInfo on a field of a schema from buildUnifiedSchema, in declaration order (empty when none). */
export function sourceInfosOf(field: GraphQLField<unknown, unknown>): readonly SourceInfo[] {
  return field.extensions.sourceInfo ?? [];
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
