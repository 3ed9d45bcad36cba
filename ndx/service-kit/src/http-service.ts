import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { BadRequestError, NdxError } from './errors.ts';
import { createServiceMetrics, type ServiceMetrics } from './metrics.ts';
import { continueTrace, currentTrace, formatTraceparent, runWithTrace } from './trace-context.ts';

// Not `import … from 'node:http'`: an ES import of node:http reads every export, and one of them (WebSocket)
// loads Node's bundled undici, about 150 ms of CPU at every service start (measured with --cpu-prof).
const { createServer } = process.getBuiltinModule('node:http');

export type ReadinessCheck = () => Promise<boolean>;

/** The environment variable holding the service's version for GET /health (serve.ts sets it from package.json). */
export const SERVICE_VERSION_ENV = 'NDX_SERVICE_VERSION';

export interface HttpServiceOptions {
  /** The service's name in logs, metrics and docs (its folder name). */
  name: string;
  logger: Logger;
  /** Named checks behind GET /ready; each must resolve true for the service to be ready. */
  readinessChecks?: Record<string, ReadinessCheck>;
  bodyLimitBytes?: number;
  /** Called when the instance closes, after in-flight requests finish (close pools here). */
  onClose?: () => Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ServiceMetrics;
    serviceName: string;
  }
}

/** The JSON body of every error response from an NDX service. */
export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/**
 * Builds a Fastify instance with what every NDX service has: a trace context per request
 * (W3C traceparent in, traceparent out, traceId on every log line), request metrics, one request log line
 * at debug (none at info: per-request lines are debug, warnings and errors are always written),
 * GET /health, GET /ready, GET /metrics, and one error mapping (NdxError → its status and code).
 */
export function createHttpService(options: HttpServiceOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger,
    // Fastify's own "incoming request" and "request completed" lines are at info; ours (below) at debug.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? 1_048_576,
    genReqId: () => currentTrace()?.spanId ?? 'none',
    // request.log is the service's logger itself, not a child per request: every line already carries the
    // request's traceId and spanId (the logger's mixin reads the trace context), and a pino child per
    // request (its bindings serialised and redacted) cost more than the rest of a small request's logging.
    childLoggerFactory: (logger) => logger,
    serverFactory: (handler) =>
      createServer((req: IncomingMessage, res: ServerResponse) => {
        const trace = continueTrace(headerValue(req.headers.traceparent));
        res.setHeader('traceparent', formatTraceparent(trace));
        runWithTrace(trace, () => handler(req, res));
      }),
  }) as unknown as FastifyInstance;

  app.decorate('serviceName', options.name);
  app.decorate('metrics', createServiceMetrics(options.name));

  app.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status_code: String(reply.statusCode),
    };
    app.metrics.httpRequests.inc(labels);
    app.metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
    // One line per request, at debug: at the default level (info) a request writes no log line at all.
    if (options.logger.isLevelEnabled('debug')) {
      request.log.debug(
        {
          req: { method: request.method, url: request.url },
          res: { statusCode: reply.statusCode },
          responseTime: reply.elapsedTime,
        },
        'request completed',
      );
    }
  });

  app.setErrorHandler((error: FastifyError | NdxError | Error, request, reply) => {
    const body = toErrorBody(error);
    const status = statusOf(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.debug({ code: body.error.code, status }, 'request rejected');
    return reply.status(status).send(body);
  });

  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}` } }),
  );

  const startedAt = Date.now();
  app.get('/health', async () => ({
    status: 'ok',
    service: options.name,
    version: process.env[SERVICE_VERSION_ENV] ?? 'unknown',
    node: process.versions.node,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
  }));

  app.get('/ready', async (_request, reply) => {
    const checks = options.readinessChecks ?? {};
    const results = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => [name, await check().catch(() => false)] as const),
    );
    const ready = results.every(([, ok]) => ok);
    return reply.status(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'unready',
      service: options.name,
      checks: Object.fromEntries(results),
    });
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', app.metrics.registry.contentType);
    return app.metrics.registry.metrics();
  });

  if (options.onClose) {
    const onClose = options.onClose;
    app.addHook('onClose', async () => onClose());
  }
  return app;
}

/** Parses untrusted input with a zod schema; a mismatch is a 400 BAD_REQUEST listing the problems. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new BadRequestError('invalid request', {
    issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  });
}

function statusOf(error: FastifyError | NdxError | Error): number {
  if (error instanceof NdxError) return error.httpStatus;
  const status = (error as FastifyError).statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}

function toErrorBody(error: FastifyError | NdxError | Error): ErrorBody {
  if (error instanceof NdxError) {
    return {
      error: {
        code: error.code,
        message: error.message,
        ...(error.details ? { details: error.details } : {}),
      },
    };
  }
  const status = statusOf(error);
  if (status >= 500) return { error: { code: 'INTERNAL', message: 'internal error' } };
  const fastifyCode = (error as FastifyError).code;
  const code =
    status === 413
      ? 'PAYLOAD_TOO_LARGE'
      : status === 415
        ? 'UNSUPPORTED_MEDIA_TYPE'
        : status === 429
          ? 'RATE_LIMITED'
          : fastifyCode === 'FST_ERR_CTP_INVALID_JSON_BODY' || status === 400
            ? 'BAD_REQUEST'
            : 'REQUEST_REJECTED';
  return { error: { code, message: error.message } };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
