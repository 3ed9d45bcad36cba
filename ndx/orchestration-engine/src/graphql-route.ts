import { ApolloServer, HeaderMap, type ApolloServerPlugin, type GraphQLRequestContext } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  GraphQLError,
  type DocumentNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { newAuditReference } from '@ndx/audit';
import { END_USER_FORMAT, END_USER_HEADER, parseEndUser, type EndUser } from '@ndx/contract';
import { currentTrace, NdxError, parseTraceparent, type TokenVerifier } from '@ndx/service-kit';
import { authenticateConsumer, type Consumer } from './consumer-auth.ts';
import type { ConsumerRegistry } from './consumer-registry.ts';
import type { FlConfig } from './fl-config.ts';
import { PlanCache } from './plan-cache.ts';
import { runQuery, type PipelineDeps } from './query-pipeline.ts';
import { exceedsTokenLimit } from './token-limit.ts';

export interface OeContext {
  consumer: Consumer;
  /** The end user the consumer asserts (NDX-End-User), or null. */
  endUser: EndUser | null;
  /** NDX's own reference for this request: recorded in its audit records, returned in NDX-Audit-Reference. */
  reference: string;
  /** The trace id of the logs (the caller's when it sent a valid traceparent): correlation, never the reference. */
  traceId: string;
  /** The caller's traceparent, when valid, kept apart for correlation. */
  callerTraceparent: string | null;
  timings: Record<string, number>;
}

/**
 * The OE's default document cache: at most 500 documents and 256 K characters of query text in all. A parsed
 * document (with locations) takes some 70 to 90 bytes of heap per character of its text, so this is ~20 MB at most
 * however large the queries consumers send.
 */
export function defaultDocumentCache(): PlanCache<DocumentNode> {
  return new PlanCache<DocumentNode>(500, {
    maxWeight: 256 * 1024,
    weigh: (document) => document.loc?.end ?? 1_024,
  });
}

/** The response header that carries the audit reference of an audited request. */
export const AUDIT_REFERENCE_HEADER = 'NDX-Audit-Reference';

/** The NDX-End-User header is present but not in its format. */
export class InvalidEndUserError extends NdxError {
  constructor() {
    super('INVALID_END_USER', `the ${END_USER_HEADER} header must be ${END_USER_FORMAT}`, 400);
  }
}

export interface GraphQLRouteOptions {
  schema: GraphQLSchema;
  /**
   * Parsed and validated documents by query hash (Apollo's document store): a repeated query is neither parsed
   * nor validated again (depth, aliases, cost, directives depend on the text only); variable coercion,
   * @skip/@include and everything after still run per request. Default: defaultDocumentCache().
   */
  documentCache?: PlanCache<DocumentNode>;
  flConfig: FlConfig;
  verifier: TokenVerifier;
  /** The PDP's consumer registry (the verifier checks it too): each consumer's default purpose. */
  consumerRegistry: ConsumerRegistry;
  pipeline: PipelineDeps;
  introspection: boolean;
  serverTiming: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    consumer?: Consumer;
    endUser?: EndUser | null;
  }
}

/**
 * POST /graphql: the consumer's token is verified before anything is parsed; Apollo parses and
 * validates against the unified schema with GraphQL Armor's limits; then the pipeline plans, gates,
 * fetches, merges and audits (Apollo's `responseForOperation` hook), so resolvers never run.
 */
export async function registerGraphQLRoute(
  app: FastifyInstance,
  options: GraphQLRouteOptions,
): Promise<ApolloServer<OeContext>> {
  const limits = options.flConfig.limits;
  const armor = new ApolloArmor({
    maxDepth: { n: limits.maxDepth, ignoreIntrospection: false },
    maxAliases: { n: limits.maxAliases },
    // Counted before Apollo instead (token-limit.ts): Armor's plugin turns syntax errors into 500s.
    maxTokens: { enabled: false },
    costLimit: { maxCost: limits.maxCost },
    maxDirectives: { n: 20 },
    blockFieldSuggestion: { enabled: !options.introspection },
  }).protect();

  const documents = options.documentCache ?? defaultDocumentCache();
  const apollo = new ApolloServer<OeContext>({
    schema: options.schema,
    // Bounded by entry count (Apollo's default is bounded by an estimate of bytes, computed by serialising).
    documentStore: {
      get: async (key) => documents.get(key),
      set: async (key, document) => documents.set(key, document),
      delete: async (key) => documents.delete(key),
    },
    introspection: options.introspection,
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    includeStacktraceInErrorResponses: false,
    validationRules: armor.validationRules,
    plugins: [
      ...(armor.plugins as ApolloServerPlugin<OeContext>[]),
      ApolloServerPluginLandingPageDisabled() as ApolloServerPlugin<OeContext>,
      pipelinePlugin(options),
    ],
    formatError: maskInternalErrors,
  });
  await apollo.start();
  app.addHook('onClose', async () => apollo.stop());

  app.decorateRequest('consumer', undefined);
  app.decorateRequest('endUser', undefined);
  const handler = fastifyApolloHandler(apollo, {
    context: async (request: FastifyRequest) => ({
      consumer: request.consumer as Consumer,
      endUser: request.endUser ?? null,
      // Generated here, never read from the request: a consumer cannot choose the reference citizens see.
      reference: newAuditReference(),
      traceId: currentTrace()?.traceId ?? 'none',
      callerTraceparent: callerTraceparentOf(request),
      timings: {},
    }),
  });
  app.route({
    method: ['GET', 'POST'],
    url: '/graphql',
    bodyLimit: limits.maxBodyBytes,
    preHandler: async (request: FastifyRequest, reply: FastifyReply) => {
      try {
        request.consumer = await authenticateConsumer(
          options.verifier,
          options.consumerRegistry,
          request.headers.authorization,
          headerValue(request.headers['ndx-purpose']),
        );
      } catch (err) {
        const error =
          err instanceof NdxError ? err : new NdxError('UNAUTHENTICATED', 'authentication failed', 401);
        if (error.httpStatus === 401)
          reply.header('www-authenticate', 'Bearer realm="ndx", error="invalid_token"');
        return reply.status(error.httpStatus).send(graphqlErrorBody(error.code, error.message));
      }
      const endUserHeader = request.headers[END_USER_HEADER.toLowerCase()];
      if (endUserHeader !== undefined) {
        const endUser = parseEndUser(headerValue(endUserHeader));
        if (endUser === null || Array.isArray(endUserHeader)) {
          const error = new InvalidEndUserError();
          return reply.status(error.httpStatus).send(graphqlErrorBody(error.code, error.message));
        }
        request.endUser = endUser;
      }
      const query = queryText(request);
      if (query !== undefined && exceedsTokenLimit(query, limits.maxTokens)) {
        return reply
          .status(400)
          .send(
            graphqlErrorBody(
              'GRAPHQL_VALIDATION_FAILED',
              `the query has more than ${limits.maxTokens} tokens`,
            ),
          );
      }
    },
    errorHandler: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
      const code =
        status === 413
          ? 'PAYLOAD_TOO_LARGE'
          : status === 415
            ? 'UNSUPPORTED_MEDIA_TYPE'
            : status < 500
              ? 'BAD_REQUEST'
              : 'INTERNAL_SERVER_ERROR';
      const message =
        status === 413
          ? `the request body is larger than ${limits.maxBodyBytes} bytes`
          : status < 500
            ? error.message
            : 'internal error';
      return reply.status(status).send(graphqlErrorBody(code, message));
    },
    handler,
  });
  return apollo;
}

function pipelinePlugin(options: GraphQLRouteOptions): ApolloServerPlugin<OeContext> {
  return {
    async requestDidStart() {
      let validateStarted = 0;
      return {
        async didResolveSource() {
          validateStarted = performance.now();
        },
        async didResolveOperation(context: GraphQLRequestContext<OeContext>) {
          const ms = performance.now() - validateStarted;
          context.contextValue.timings['validate'] = ms;
          options.pipeline.metrics.stageDuration.observe({ stage: 'validate' }, ms / 1000);
          if (context.operation?.operation !== 'query') {
            throw new GraphQLError('NDX answers queries only', {
              extensions: { code: 'OPERATION_NOT_SUPPORTED', http: { status: 400 } },
            });
          }
        },
        async responseForOperation(context) {
          if (isIntrospectionOnly(context.operation)) return null;
          const oe = context.contextValue;
          const result = await runQuery(options.pipeline, {
            document: context.document,
            source: context.source,
            operationName: context.operationName ?? undefined,
            variables: context.request.variables,
            consumer: oe.consumer,
            endUser: oe.endUser,
            reference: oe.reference,
            traceId: oe.traceId,
            callerTraceparent: oe.callerTraceparent,
            timings: oe.timings,
          });
          const headers = new HeaderMap();
          if (result.auditReference) headers.set(AUDIT_REFERENCE_HEADER.toLowerCase(), result.auditReference);
          if (options.serverTiming) headers.set('server-timing', serverTiming(context.contextValue.timings));
          return {
            http: { status: result.status, headers },
            body: {
              kind: 'single',
              singleResult: {
                ...(result.data !== undefined ? { data: result.data } : {}),
                ...(result.errors.length ? { errors: result.errors as GraphQLFormattedError[] } : {}),
              },
            },
          };
        },
      };
    },
  };
}

function isIntrospectionOnly(operation: OperationDefinitionNode | undefined): boolean {
  if (!operation) return false;
  return operation.selectionSet.selections.every((s) => s.kind === 'Field' && s.name.value.startsWith('__'));
}

function serverTiming(timings: Record<string, number>): string {
  return Object.entries(timings)
    .map(([stage, ms]) => `${stage.replace(/[^A-Za-z0-9_-]/g, '_')};dur=${ms.toFixed(2)}`)
    .join(', ');
}

/** Errors of our own keep their code and message; anything unexpected is masked. */
function maskInternalErrors(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = (error as { originalError?: unknown })?.originalError;
  if (original instanceof NdxError) {
    return { message: original.message, extensions: { code: original.code, ...original.details } };
  }
  if (formatted.extensions?.['code'] === 'INTERNAL_SERVER_ERROR') {
    return { message: 'internal error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  }
  return formatted;
}

function graphqlErrorBody(code: string, message: string) {
  return { errors: [{ message, extensions: { code } }] };
}

function queryText(request: FastifyRequest): string | undefined {
  const fromBody = (request.body as { query?: unknown } | undefined)?.query;
  if (typeof fromBody === 'string') return fromBody;
  const fromUrl = (request.query as { query?: unknown } | undefined)?.query;
  return typeof fromUrl === 'string' ? fromUrl : undefined;
}

/** The caller's traceparent, when it is a valid W3C one (lower case); null otherwise. */
function callerTraceparentOf(request: FastifyRequest): string | null {
  const header = headerValue(request.headers.traceparent);
  return header !== undefined && parseTraceparent(header) ? header.trim().toLowerCase() : null;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
