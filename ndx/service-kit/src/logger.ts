import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';
import { currentTrace, newTraceId } from './trace-context.ts';

export type { Logger } from 'pino';

/** Trace id for log lines written outside any request (start-up, shutdown, timers) of this process. */
const processTraceId = newTraceId();

/**
 * A JSON logger whose every line carries `service` and `traceId` (the current request's,
 * or the process's own outside requests).
 */
export function createLogger(
  service: string,
  options: { level?: string; destination?: DestinationStream } = {},
): Logger {
  const pinoOptions: LoggerOptions = {
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    mixin() {
      const trace = currentTrace();
      return trace ? { traceId: trace.traceId, spanId: trace.spanId } : { traceId: processTraceId };
    },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["x-api-key"]',
        '*.password',
        '*.client_secret',
        '*.clientSecret',
      ],
      censor: '[redacted]',
    },
  };
  return options.destination ? pino(pinoOptions, options.destination) : pino(pinoOptions);
}
