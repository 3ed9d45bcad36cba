import { ApolloServer, HeaderMap, type ApolloServerPlugin, type GraphQLRequestContext } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  GraphQLError,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { currentTrace, NdxError, type TokenVerifier } from '@ndx/service-kit';
import { authenticateConsumer, type Consumer } from './consumer-auth.ts';
import type { FlConfig } from './fl-config.ts';
import { runQuery, type PipelineDeps } from './query-pipeline.ts';
import { exceedsTokenLimit } from './token-limit.ts';

export interface OeContext {
  consumer: Consumer;
  traceId: string;
  timings: Record<string, number>;
}

export interface GraphQLRouteOptions {
  schema: GraphQLSchema;
  flConfig: FlConfig;
  verifier: TokenVerifier;
  pipeline: PipelineDeps;
  introspection: boolean;
  serverTiming: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    consumer?: Consumer;
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

  const apollo = new ApolloServer<OeContext>({
    schema: options.schema,
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
  const handler = fastifyApolloHandler(apollo, {
    context: async (request: FastifyRequest) => ({
      consumer: request.consumer as Consumer,
      traceId: currentTrace()?.traceId ?? 'none',
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
          options.flConfig,
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
          const result = await runQuery(options.pipeline, {
            document: context.document,
            source: context.source,
            operationName: context.operationName ?? undefined,
            variables: context.request.variables,
            consumer: context.contextValue.consumer,
            traceId: context.contextValue.traceId,
            timings: context.contextValue.timings,
          });
          const headers = new HeaderMap();
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

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
