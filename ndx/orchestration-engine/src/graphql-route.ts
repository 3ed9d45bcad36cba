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
import { END_USER_FORMAT, END_USER_HEADER, ndxApiPaths, parseEndUser, type EndUser } from '@ndx/contract';
import { currentTrace, NdxError, parseTraceparent, type TokenVerifier } from '@ndx/service-kit';
import { authenticateConsumer, type Consumer } from './consumer-auth.ts';
import type { ConsumerRegistry } from './consumer-registry.ts';
import type { FlConfig } from './fl-config.ts';
import { PlanCache } from './plan-cache.ts';
import { runQuery, type PipelineDeps } from './query-pipeline.ts';
import { APPLICATION_JSON, legacyWatershedStatus, mediaTypeOf, negotiateMediaType } from './graphql-http.ts';
import { operationLimitRules, variablesProblem } from './operation-limits.ts';
import { createRateLimiter, RateLimitedError, type RateLimiter } from './rate-limit.ts';
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
  /** Requests per consumer; default: a limiter on flConfig.rateLimits (tests inject one with their clock). */
  rateLimiter?: RateLimiter;
}

declare module 'fastify' {
  interface FastifyRequest {
    consumer?: Consumer;
    endUser?: EndUser | null;
  }
}

/**
 * POST /graphql (JSON only; other methods 405): the consumer's token is verified and its rate limit taken before
 * anything is parsed (requestSteps); Apollo parses and validates against the unified schema with GraphQL Armor's
 * limits and the OE's own (operation-limits.ts); then the pipeline plans, gates,
 * fetches, merges and audits (Apollo's `responseForOperation` hook), so resolvers never run.
 */
export async function registerGraphQLRoute(
  app: FastifyInstance,
  options: GraphQLRouteOptions,
): Promise<ApolloServer<OeContext>> {
  const limits = options.flConfig.limits;
  const armor = new ApolloArmor({
    maxDepth: { n: limits.maxDepth, ignoreIntrospection: false },
    // Aliases of __typename count too (Armor leaves them out by default): 100 of them is graphql-cop's probe.
    maxAliases: { n: limits.maxAliases, allowList: [] },
    // Counted before Apollo instead (token-limit.ts): Armor's plugin turns syntax errors into 500s.
    maxTokens: { enabled: false },
    costLimit: { maxCost: limits.maxCost },
    maxDirectives: { n: limits.maxDirectives },
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
    validationRules: [...armor.validationRules, ...operationLimitRules(limits)],
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
  const steps = requestSteps(options);
  app.route({
    method: 'POST',
    url: ndxApiPaths.graphql,
    bodyLimit: limits.maxBodyBytes,
    // Before the body is read: only JSON is a GraphQL request here (a form or text/plain post is a CSRF vector).
    onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
      if (mediaTypeOf(request.headers['content-type']) !== APPLICATION_JSON) {
        return refuse(request, reply, new UnsupportedMediaTypeError());
      }
    },
    preHandler: async (request: FastifyRequest, reply: FastifyReply) => {
      for (const step of steps) {
        try {
          await step(request);
        } catch (err) {
          if (err instanceof NdxError) return refuse(request, reply, err);
          throw err;
        }
      }
    },
    errorHandler: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
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
      return refuse(request, reply, new NdxError(code, message, status));
    },
    // GraphQL over HTTP, legacy watershed: a request error in application/json is answered 200 (graphql-http.ts).
    onSend: async (_request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      if (typeof payload === 'string') {
        const contentType = reply.getHeader('content-type');
        reply.status(
          legacyWatershedStatus(
            reply.statusCode,
            typeof contentType === 'string' ? contentType : undefined,
            payload,
          ),
        );
      }
      return payload;
    },
    handler,
  });
  // POST only: a GET would put citizens' NICs in URLs (and proxies' logs) and is a CSRF vector.
  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: ndxApiPaths.graphql,
    handler: async (request: FastifyRequest, reply: FastifyReply) =>
      refuse(request, reply, new MethodNotAllowedError(request.method)),
  });
  return apollo;
}

/** A check of POST /graphql after its body is read: throws the NdxError it refuses with. */
type RequestStep = (request: FastifyRequest) => Promise<void> | void;

/**
 * The checks of POST /graphql before Apollo parses the query, in order (the first that throws answers): who asks
 * (a consumer's token), whether it is within its rate limit, for whom (NDX-End-User), then the query's size in
 * tokens and its variables. Nothing here asks the PDP (beyond the consumer registry), the CE or a provider.
 */
function requestSteps(options: GraphQLRouteOptions): RequestStep[] {
  const limits = options.flConfig.limits;
  const rateLimiter = options.rateLimiter ?? createRateLimiter(options.flConfig.rateLimits);
  const authenticate: RequestStep = async (request) => {
    try {
      request.consumer = await authenticateConsumer(
        options.verifier,
        options.consumerRegistry,
        request.headers.authorization,
        headerValue(request.headers['ndx-purpose']),
      );
    } catch (err) {
      throw err instanceof NdxError ? err : new NdxError('UNAUTHENTICATED', 'authentication failed', 401);
    }
  };
  const withinRateLimit: RequestStep = (request) => {
    const consumerId = request.consumer!.consumerId;
    const decision = rateLimiter.take(consumerId);
    if (!decision.allowed) {
      options.pipeline.metrics.rateLimited.inc({ consumer: consumerId });
      throw new RateLimitedError(consumerId, decision.retryAfterSeconds);
    }
  };
  const endUser: RequestStep = (request) => {
    const header = request.headers[END_USER_HEADER.toLowerCase()];
    if (header === undefined) return;
    const parsed = parseEndUser(headerValue(header));
    if (parsed === null || Array.isArray(header)) throw new InvalidEndUserError();
    request.endUser = parsed;
  };
  const tokenLimit: RequestStep = (request) => {
    const query = (request.body as { query?: unknown } | undefined)?.query;
    if (typeof query === 'string' && exceedsTokenLimit(query, limits.maxTokens)) {
      throw new NdxError(
        'GRAPHQL_VALIDATION_FAILED',
        `the query has more than ${limits.maxTokens} tokens`,
        400,
      );
    }
  };
  const variables: RequestStep = (request) => {
    const problem = variablesProblem(
      (request.body as { variables?: unknown } | undefined)?.variables,
      limits.maxArgumentLength,
    );
    if (problem) throw problem;
  };
  return [authenticate, withinRateLimit, endUser, tokenLimit, variables];
}

/** Only application/json is a GraphQL request body here. */
export class UnsupportedMediaTypeError extends NdxError {
  constructor() {
    super('UNSUPPORTED_MEDIA_TYPE', 'send the GraphQL request as Content-Type: application/json', 415);
  }
}

/** /graphql answers POST only. */
export class MethodNotAllowedError extends NdxError {
  constructor(method: string) {
    super('METHOD_NOT_ALLOWED', `${method} is not allowed on /graphql: send a POST`, 405);
  }
}

/** A refusal before Apollo, as a GraphQL error body in the media type the client accepts, with its headers. */
function refuse(request: FastifyRequest, reply: FastifyReply, error: NdxError): FastifyReply {
  if (error.httpStatus === 401) reply.header('www-authenticate', 'Bearer realm="ndx", error="invalid_token"');
  if (error instanceof RateLimitedError) reply.header('retry-after', String(error.retryAfterSeconds));
  if (error instanceof MethodNotAllowedError) reply.header('allow', 'POST');
  return reply
    .type(`${negotiateMediaType(headerValue(request.headers.accept))}; charset=utf-8`)
    .status(error.httpStatus)
    .send(graphqlErrorBody(error.code, error.message, error.details));
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

function graphqlErrorBody(code: string, message: string, details?: Record<string, unknown>) {
  return { errors: [{ message, extensions: { code, ...details } }] };
}

/** The caller's traceparent, when it is a valid W3C one (lower case); null otherwise. */
function callerTraceparentOf(request: FastifyRequest): string | null {
  const header = headerValue(request.headers.traceparent);
  return header !== undefined && parseTraceparent(header) ? header.trim().toLowerCase() : null;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
