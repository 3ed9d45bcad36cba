import type { FastifyBaseLogger, FastifyInstance, FastifyReply } from 'fastify';
import {
  buildSchema,
  execute,
  GraphQLError,
  Kind,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';
import { Counter, Histogram } from 'prom-client';
import { z } from 'zod';
import { createHttpService, NdxError, type Logger } from '@ndx/service-kit';
import { checkArguments } from './arguments.ts';
import type { Caller, InboundAuth } from './auth.ts';
import type { FieldContext, RootField, UpstreamSource } from './upstream.ts';

export interface AdapterOptions {
  /** Service name in logs and metrics, e.g. `drp-api-adapter`. */
  name: string;
  /** The schema id NDX knows this provider's schema by, e.g. `drp-schema-v1`. */
  schemaId: string;
  /** The provider's GraphQL schema (SDL); served as-is at GET /graphql/schema.graphql. */
  sdl: string;
  logger: Logger;
  auth: InboundAuth;
  /** The legacy systems behind the adapter; /ready checks that each is reachable. */
  sources: readonly UpstreamSource[];
  /** How each field of `type Query` is answered; every Query field needs exactly one entry. */
  query: Record<string, RootField>;
  /** Deepest selection accepted (default 10). */
  maxDepth?: number;
  /** Longest query text accepted, in characters (default 10,000). */
  maxQueryLength?: number;
}

const requestBody = z.object({
  query: z.string().min(1),
  variables: z.record(z.string(), z.unknown()).nullish(),
  operationName: z.string().nullish(),
});

/**
 * Builds an adapter: a Fastify service (the service kit's /health, /ready, /metrics, trace ids)
 * with POST /graphql answering the provider schema from the legacy system, and the SDL at
 * GET /graphql/schema.graphql. Inbound auth guards /graphql only.
 */
export function createAdapter(options: AdapterOptions): FastifyInstance {
  const schema = buildSchema(options.sdl);
  checkFieldsCovered(schema, options.query);
  const maxDepth = options.maxDepth ?? 10;
  const maxQueryLength = options.maxQueryLength ?? 10_000;

  const app = createHttpService({
    name: options.name,
    logger: options.logger,
    bodyLimitBytes: maxQueryLength * 4 + 16_384,
    readinessChecks: Object.fromEntries(options.sources.map((s) => [s.name, () => s.isReachable()])),
  });

  const fieldRequests = new Counter({
    name: 'adapter_field_requests_total',
    help: 'Root fields resolved, by field and outcome (ok, not-found, BAD_USER_INPUT, PROVIDER_ERROR, ...)',
    labelNames: ['field', 'outcome'] as const,
    registers: [app.metrics.registry],
  });
  const upstreamDuration = new Histogram({
    name: 'adapter_upstream_duration_seconds',
    help: 'Calls to the legacy system, by source, operation and outcome',
    labelNames: ['source', 'operation', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [app.metrics.registry],
  });

  app.get('/graphql/schema.graphql', async (_request, reply) =>
    reply
      .header('content-type', 'text/plain; charset=utf-8')
      .header('x-ndx-schema-id', options.schemaId)
      .send(options.sdl),
  );

  const rootValue = Object.fromEntries(
    Object.entries(options.query).map(([field, spec]) => [
      field,
      async (args: Record<string, unknown>, context: FieldContext) => {
        try {
          checkArguments(field, spec.arguments, args);
          const value = await spec.fetch(args, context);
          fieldRequests.inc({ field, outcome: value === null ? 'not-found' : 'ok' });
          return value;
        } catch (err) {
          fieldRequests.inc({ field, outcome: err instanceof NdxError ? err.code : 'INTERNAL' });
          throw err;
        }
      },
    ]),
  );

  app.post('/graphql', async (request, reply) => {
    let caller: Caller;
    try {
      caller = await options.auth.authenticate(request.headers);
    } catch (err) {
      if (!(err instanceof NdxError)) throw err;
      if (err.httpStatus === 401) reply.header('www-authenticate', options.auth.challenge);
      request.log.debug({ code: err.code, reason: err.message }, 'graphql request refused');
      return sendErrors(reply, err.httpStatus, [{ message: err.message, extensions: { code: err.code } }]);
    }

    const body = requestBody.safeParse(request.body);
    if (!body.success) {
      return sendErrors(reply, 400, [
        {
          message: 'the body must be JSON {"query": "...", "variables"?: {...}, "operationName"?: "..."}',
          extensions: { code: 'BAD_REQUEST' },
        },
      ]);
    }
    const { query, variables, operationName } = body.data;
    if (query.length > maxQueryLength) {
      return sendErrors(reply, 400, [
        {
          message: `the query is longer than ${maxQueryLength} characters`,
          extensions: { code: 'BAD_REQUEST' },
        },
      ]);
    }

    let document: DocumentNode;
    try {
      document = parse(query);
    } catch (err) {
      const error = err as GraphQLError;
      return sendErrors(reply, 400, [
        { message: error.message, locations: error.locations, extensions: { code: 'GRAPHQL_PARSE_FAILED' } },
      ]);
    }
    const invalid = [...validate(schema, document, specifiedRules)];
    if (invalid.length === 0) {
      const depth = documentDepth(document);
      if (depth > maxDepth) {
        invalid.push(new GraphQLError(`the query is ${depth} levels deep; at most ${maxDepth} are allowed`));
      }
    }
    if (invalid.length > 0) {
      return sendErrors(
        reply,
        400,
        invalid.map((e) => ({
          message: e.message,
          locations: e.locations,
          extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
        })),
      );
    }

    const started = performance.now();
    const context: FieldContext = {
      logger: request.log,
      observeUpstream: (source, operation, outcome, seconds) =>
        upstreamDuration.observe({ source, operation, outcome }, seconds),
    };
    const result = await execute({
      schema,
      document,
      rootValue,
      contextValue: context,
      variableValues: variables ?? undefined,
      operationName: operationName ?? undefined,
    });
    // Without data the request never executed (e.g. bad variables): a client error.
    const executed = 'data' in result && result.data !== undefined;
    const errors = (result.errors ?? []).map((e) =>
      formatError(e, request.log, executed ? 'INTERNAL_SERVER_ERROR' : 'BAD_USER_INPUT'),
    );
    request.log.debug(
      {
        operationName: operationName ?? undefined,
        fields: rootFieldsOf(document),
        caller: caller.clientId ?? caller.method,
        errors: errors.map((e) => e.extensions?.['code']),
        durationMs: Math.round(performance.now() - started),
      },
      'graphql request',
    );
    if (!executed) return sendErrors(reply, 400, errors);
    return reply.status(200).send(errors.length > 0 ? { data: result.data, errors } : { data: result.data });
  });

  return app;
}

function sendErrors(reply: FastifyReply, status: number, errors: GraphQLFormattedError[]): FastifyReply {
  return reply.status(status).send({ errors });
}

/** Our errors keep their code and details in `extensions`; anything unexpected is logged and hidden. */
function formatError(
  error: GraphQLError,
  logger: FastifyBaseLogger,
  defaultCode: string,
): GraphQLFormattedError {
  const original = error.originalError;
  const base = { message: error.message, locations: error.locations, path: error.path };
  if (original instanceof NdxError) {
    return { ...base, message: original.message, extensions: { code: original.code, ...original.details } };
  }
  if (original && !(original instanceof GraphQLError)) {
    logger.error({ err: original, path: error.path }, 'field resolver failed');
    return { ...base, message: 'internal error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  }
  const formatted = error.toJSON();
  return { ...formatted, extensions: { code: defaultCode, ...formatted.extensions } };
}

function checkFieldsCovered(schema: GraphQLSchema, query: Record<string, RootField>): void {
  const queryType = schema.getQueryType();
  if (!queryType) throw new Error('the adapter schema has no type Query');
  if (schema.getMutationType() || schema.getSubscriptionType()) {
    throw new Error('adapters are read-only: the schema may only have type Query');
  }
  const declared = Object.keys(queryType.getFields());
  const missing = declared.filter((f) => !(f in query));
  const unknown = Object.keys(query).filter((f) => !declared.includes(f));
  if (missing.length > 0) throw new Error(`no fetcher for Query field(s): ${missing.join(', ')}`);
  if (unknown.length > 0) throw new Error(`fetcher(s) for field(s) not in type Query: ${unknown.join(', ')}`);
}

function rootFieldsOf(document: DocumentNode): string[] {
  const fields: string[] = [];
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    for (const selection of definition.selectionSet.selections) {
      if (selection.kind === Kind.FIELD) fields.push(selection.name.value);
    }
  }
  return fields;
}

/** The deepest field nesting of any operation, following fragments (cycles are rejected by validation first). */
function documentDepth(document: DocumentNode): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions)
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const depthOf = (set: SelectionSetNode | undefined, level: number): number => {
    if (!set) return level;
    let deepest = level;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        deepest = Math.max(deepest, depthOf(selection.selectionSet, level + 1));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        deepest = Math.max(deepest, depthOf(selection.selectionSet, level));
      } else {
        deepest = Math.max(deepest, depthOf(fragments.get(selection.name.value)?.selectionSet, level));
      }
    }
    return deepest;
  };
  let max = 0;
  for (const d of document.definitions) {
    if (d.kind === Kind.OPERATION_DEFINITION) max = Math.max(max, depthOf(d.selectionSet, 0));
  }
  return max;
}
