import { readFile } from 'node:fs/promises';
import {
  buildSchema,
  getNamedType,
  getNullableType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
} from 'graphql';
import { ConfigError, httpCall } from '@ndx/service-kit';
import type { FlConfig } from './fl-config.ts';
import { rootBindings, routeField, type ProviderPosition } from './routing.ts';
import { isListField, objectTypeOf, sourceInfosOf, type SourceInfo } from './schema.ts';

/** One provider's SDL and where it came from (a file path or a URL). */
export interface ProviderSdl {
  sdl: string;
  origin: string;
}

export interface LoadProviderSchemasOptions {
  /** `pinned`: a provider's schemaFile when fl-config names one, else its live SDL. `live`: always fetch. */
  prefer: 'pinned' | 'live';
}

/** Reads or fetches (`${url}/graphql/schema.graphql`) every provider's SDL; a failure names the provider. */
export async function loadProviderSchemas(
  config: FlConfig,
  options: LoadProviderSchemasOptions,
): Promise<Map<string, ProviderSdl>> {
  const entries = await Promise.all(
    config.providers.map(async (provider): Promise<[string, ProviderSdl]> => {
      if (options.prefer === 'pinned' && provider.schemaFile) {
        try {
          return [
            provider.providerKey,
            { sdl: await readFile(provider.schemaFile, 'utf8'), origin: provider.schemaFile },
          ];
        } catch (err) {
          throw new ConfigError(
            `cannot read the pinned schema of provider ${provider.providerKey} (${provider.schemaFile}): ${(err as Error).message}`,
          );
        }
      }
      let response;
      try {
        response = await httpCall(provider.sdlUrl, { timeoutMs: provider.timeoutMs });
      } catch (err) {
        throw new ConfigError(
          `cannot fetch the schema of provider ${provider.providerKey} from ${provider.sdlUrl}: ${(err as Error).message}`,
        );
      }
      if (response.status !== 200) {
        throw new ConfigError(
          `cannot fetch the schema of provider ${provider.providerKey}: ${provider.sdlUrl} answered HTTP ${response.status}`,
        );
      }
      return [provider.providerKey, { sdl: response.text, origin: provider.sdlUrl }];
    }),
  );
  return new Map(entries);
}

/**
 * Checks every @sourceInfo of the unified schema and every argMapping against fl-config and the providers'
 * schemas. Returns the problems, one line each naming the field (empty when all is well).
 */
export function checkSchema(
  unified: GraphQLSchema,
  config: FlConfig,
  providerSdls: Map<string, ProviderSdl>,
): string[] {
  const problems: string[] = [];
  const providerSchemas = new Map<string, GraphQLSchema>();
  for (const provider of config.providers) {
    const source = providerSdls.get(provider.providerKey);
    if (!source) {
      problems.push(`provider ${provider.providerKey}: no schema to check against`);
      continue;
    }
    try {
      providerSchemas.set(provider.providerKey, buildSchema(source.sdl));
    } catch (err) {
      problems.push(
        `provider ${provider.providerKey}: ${source.origin} is not a valid GraphQL schema: ${(err as Error).message}`,
      );
    }
  }
  const context: CheckContext = { unified, config, providerSchemas, problems };
  checkSourceInfos(context);
  checkArgMappings(context);
  checkReachability(context);
  return [...new Set(problems)];
}

/** checkSchema that throws a ConfigError listing every problem (for start-up). */
export function assertSchemaMatchesProviders(
  unified: GraphQLSchema,
  config: FlConfig,
  providerSdls: Map<string, ProviderSdl>,
): void {
  const problems = checkSchema(unified, config, providerSdls);
  if (problems.length) {
    throw new ConfigError(`the unified schema does not match the providers:\n  ${problems.join('\n  ')}`);
  }
}

interface CheckContext {
  unified: GraphQLSchema;
  config: FlConfig;
  providerSchemas: Map<string, GraphQLSchema>;
  problems: string[];
}

interface ResolvedProviderField {
  field: GraphQLField<unknown, unknown>;
  /** Indices of the path segments (before the last) whose type is a list. */
  listSegments: number[];
}

function unifiedFields(
  schema: GraphQLSchema,
): { type: GraphQLObjectType; field: GraphQLField<unknown, unknown> }[] {
  return Object.values(schema.getTypeMap())
    .filter((type): type is GraphQLObjectType => isObjectType(type) && !type.name.startsWith('__'))
    .flatMap((type) => Object.values(type.getFields()).map((field) => ({ type, field })));
}

function checkSourceInfos(context: CheckContext): void {
  for (const { type, field } of unifiedFields(context.unified)) {
    const coordinate = `${type.name}.${field.name}`;
    const infos = sourceInfosOf(field);
    if (
      infos.length &&
      objectTypeOf(field) &&
      !isListField(field) &&
      type !== context.unified.getQueryType()
    ) {
      context.problems.push(
        `${coordinate}: @sourceInfo on an object field that is not a list (put it on its leaves)`,
      );
      continue;
    }
    for (const info of infos) {
      const where = `${coordinate} @sourceInfo(providerKey: "${info.providerKey}", providerField: "${info.providerField}")`;
      const provider = context.config.providers.find((p) => p.providerKey === info.providerKey);
      if (!provider) {
        context.problems.push(`${where}: "${info.providerKey}" is not a provider in fl-config.json`);
        continue;
      }
      if (provider.schemaId !== info.schemaId) {
        context.problems.push(
          `${where}: schemaId "${info.schemaId}" does not match fl-config.json's "${provider.schemaId}" for ${info.providerKey}`,
        );
      }
      const providerSchema = context.providerSchemas.get(info.providerKey);
      if (!providerSchema) continue;
      const resolved = resolveProviderField(providerSchema, info, (message) =>
        context.problems.push(`${where}: ${message}`),
      );
      if (resolved)
        checkTypeFit(field.type, resolved.field.type, (message) =>
          context.problems.push(`${where}: ${message}`),
        );
    }
  }
}

function resolveProviderField(
  schema: GraphQLSchema,
  info: SourceInfo,
  report: (message: string) => void,
): ResolvedProviderField | undefined {
  let type: GraphQLObjectType | undefined | null = schema.getQueryType();
  let field: GraphQLField<unknown, unknown> | undefined;
  const listSegments: number[] = [];
  for (let i = 0; i < info.segments.length; i++) {
    const segment = info.segments[i]!;
    if (!type) {
      report(
        `provider field ${info.segments.slice(0, i).join('.')} is a ${String(field?.type)}, not an object`,
      );
      return undefined;
    }
    field = type.getFields()[segment];
    if (!field) {
      report(
        `provider ${info.providerKey} has no field ${info.segments.slice(0, i + 1).join('.')} (type ${type.name} has no field "${segment}")`,
      );
      return undefined;
    }
    if (i < info.segments.length - 1 && isListType(getNullableType(field.type))) listSegments.push(i);
    const named = getNamedType(field.type);
    type = isObjectType(named) ? named : undefined;
  }
  return field ? { field, listSegments } : undefined;
}

const STRING_LIKE = new Set(['ID', 'String']);

function checkTypeFit(
  unifiedType: GraphQLOutputType,
  providerType: GraphQLOutputType,
  report: (m: string) => void,
): void {
  const unifiedList = isListType(getNullableType(unifiedType));
  const providerList = isListType(getNullableType(providerType));
  if (unifiedList !== providerList) {
    report(
      `type does not fit: unified ${String(unifiedType)} is ${unifiedList ? 'a list' : 'not a list'}, provider ${String(providerType)} is ${providerList ? 'a list' : 'not a list'}`,
    );
    return;
  }
  const unifiedNamed = getNamedType(unifiedType);
  const providerNamed = getNamedType(providerType);
  if (isLeafType(unifiedNamed) !== isLeafType(providerNamed)) {
    report(
      `type does not fit: unified ${String(unifiedType)} is ${isLeafType(unifiedNamed) ? 'a scalar' : 'an object'}, provider ${String(providerType)} is ${isLeafType(providerNamed) ? 'a scalar' : 'an object'}`,
    );
    return;
  }
  if (
    isLeafType(unifiedNamed) &&
    unifiedNamed.name !== providerNamed.name &&
    !(STRING_LIKE.has(unifiedNamed.name) && STRING_LIKE.has(providerNamed.name))
  ) {
    report(`type does not fit: unified ${String(unifiedType)} cannot hold provider ${String(providerType)}`);
  }
}

function checkArgMappings(context: CheckContext): void {
  const queryType = context.unified.getQueryType();
  context.config.argMappings.forEach((mapping, index) => {
    const where = `argMappings[${index}] (${mapping.unifiedField}.${mapping.unifiedArgument} → ${mapping.providerKey} ${mapping.providerField}.${mapping.providerArgument})`;
    const unifiedRoot = queryType?.getFields()[mapping.unifiedField];
    const unifiedArg = unifiedRoot?.args.find((a) => a.name === mapping.unifiedArgument);
    if (!unifiedArg) {
      context.problems.push(
        `${where}: the unified schema has no Query.${mapping.unifiedField}(${mapping.unifiedArgument}:)`,
      );
      return;
    }
    const providerSchema = context.providerSchemas.get(mapping.providerKey);
    if (!providerSchema) return;
    const providerRoot = providerSchema.getQueryType()?.getFields()[mapping.providerField];
    if (!providerRoot) {
      context.problems.push(
        `${where}: provider ${mapping.providerKey} has no Query.${mapping.providerField}`,
      );
      return;
    }
    const providerArg = providerRoot.args.find((a) => a.name === mapping.providerArgument);
    if (!providerArg) {
      context.problems.push(
        `${where}: provider ${mapping.providerKey} Query.${mapping.providerField} has no argument "${mapping.providerArgument}"`,
      );
      return;
    }
    const unifiedNamed = getNamedType(unifiedArg.type).name;
    const providerNamed = getNamedType(providerArg.type).name;
    const namesFit =
      unifiedNamed === providerNamed || (STRING_LIKE.has(unifiedNamed) && STRING_LIKE.has(providerNamed));
    if (!namesFit || (isNonNullType(providerArg.type) && !isNonNullType(unifiedArg.type))) {
      context.problems.push(
        `${where}: argument type ${String(unifiedArg.type)} does not fit provider ${String(providerArg.type)}`,
      );
    }
  });
  // Every required argument of a bound provider root field must be mapped.
  for (const field of Object.values(queryType?.getFields() ?? {})) {
    for (const binding of rootBindings(field, context.config.argMappings)) {
      const providerRoot = context.providerSchemas.get(binding.providerKey)?.getQueryType()?.getFields()[
        binding.providerField
      ];
      for (const arg of providerRoot?.args ?? []) {
        if (
          isNonNullType(arg.type) &&
          arg.defaultValue === undefined &&
          !binding.arguments.some((a) => a.providerArgument === arg.name)
        ) {
          context.problems.push(
            `Query.${field.name}: provider ${binding.providerKey} Query.${binding.providerField} needs argument "${arg.name}", which no argMapping supplies`,
          );
        }
      }
    }
  }
}

/**
 * Walks every field reachable from each root field with the planner's routing (routing.ts), so that every
 * selectable field is routable. `listed` counts, per provider, the leading provider path segments a unified
 * list field already stands for (a provider list there is walked element by element).
 */
function checkReachability(context: CheckContext): void {
  const queryType = context.unified.getQueryType();
  if (!queryType) {
    context.problems.push('the unified schema has no Query type');
    return;
  }
  for (const root of Object.values(queryType.getFields())) {
    const positions: Positions = new Map(
      rootBindings(root, context.config.argMappings).map((b) => [
        b.providerKey,
        { path: [b.providerField], listed: 0 },
      ]),
    );
    const route = routeField(root, positions);
    if (route.kind === 'object') walkObject(context, route.type, positions, root.name, 0);
    else if (route.kind === 'list' || (route.kind === 'unroutable' && route.isList)) {
      walkField(context, queryType, root, positions, root.name, 0);
    } else context.problems.push(`Query.${root.name}: a root field must return an object type`);
  }
}

/** Where each provider stands (see routing.ts), and how much of its path unified lists stand for. */
type Positions = Map<string, ProviderPosition & { listed: number }>;

function walkObject(
  context: CheckContext,
  type: GraphQLObjectType,
  positions: Positions,
  path: string,
  depth: number,
): void {
  if (depth > 12) {
    context.problems.push(`${path}: nested deeper than 12 levels (a cycle?)`);
    return;
  }
  for (const field of Object.values(type.getFields())) {
    walkField(context, type, field, positions, `${path}.${field.name}`, depth + 1);
  }
}

function walkField(
  context: CheckContext,
  type: GraphQLObjectType,
  field: GraphQLField<unknown, unknown>,
  positions: Positions,
  path: string,
  depth: number,
): void {
  const route = routeField(field, positions);
  const where = `${type.name}.${field.name} (reached as ${path})`;
  switch (route.kind) {
    case 'object':
      walkObject(context, route.type, positions, path, depth);
      return;
    case 'leaf':
      checkNoHiddenLists(context, where, route.source, positions.get(route.source.providerKey)!.listed);
      return;
    case 'list': {
      checkNoHiddenLists(context, where, route.source, positions.get(route.source.providerKey)!.listed);
      const { providerKey, segments } = route.source;
      const inside: Positions = new Map([[providerKey, { path: segments, listed: segments.length }]]);
      walkObject(context, route.itemType, inside, path, depth + 1);
      return;
    }
    case 'unroutable':
      context.problems.push(
        route.isList
          ? `${where}: a list field needs an @sourceInfo naming a provider list under ${describePositions(positions)}`
          : `${where}: no @sourceInfo under ${describePositions(positions)}`,
      );
  }
}

/** A provider list on the way to a field must be matched by a unified list field (elements merge one by one). */
function checkNoHiddenLists(context: CheckContext, where: string, info: SourceInfo, listed: number): void {
  const schema = context.providerSchemas.get(info.providerKey);
  if (!schema) return;
  const resolved = resolveProviderField(schema, info, () => undefined);
  const hidden = resolved?.listSegments.find((index) => index >= listed);
  if (hidden !== undefined) {
    context.problems.push(
      `${where}: provider field ${info.providerKey} ${info.segments
        .slice(0, hidden + 1)
        .join('.')} is a list, but the unified path has no list field for it`,
    );
  }
}

function describePositions(positions: Positions): string {
  if (!positions.size) return 'no provider (no argMapping or @sourceInfo binds this root field)';
  return [...positions].map(([key, position]) => `${key} ${position.path.join('.')}`).join(', ');
}
