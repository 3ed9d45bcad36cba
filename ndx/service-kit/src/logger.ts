import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';
import { currentTrace, newTraceId } from './trace-context.ts';

export type { Logger } from 'pino';

/** Trace id for log lines written outside any request (start-up, shutdown, timers) of this process. */
const processTraceId = newTraceId();

/** Keys whose values are credentials wherever they are logged: at the top of a line's object or one level down. */
const CREDENTIAL_KEYS = [
  'authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'password',
  'client_secret',
  'clientSecret',
  'secret',
  'apiKey',
  'api_key',
  'token',
  'access_token',
  'accessToken',
  'id_token',
  'idToken',
  'refresh_token',
  'refreshToken',
  'totpSecret',
  'totp_secret',
];

/** What the logger redacts: each credential key at two depths, and in the headers of any logged object. */
const REDACTED_PATHS = CREDENTIAL_KEYS.flatMap((key) => {
  const plain = /^[A-Za-z_]\w*$/.test(key);
  const child = plain ? `.${key}` : `["${key}"]`;
  return [...(plain ? [key] : []), `*${child}`, `headers${child}`, `*.headers${child}`];
});

/** The environment variable naming the file a service writes its log to (set by the local stack's launcher). */
export const LOG_FILE_ENV = 'LOG_FILE';

/**
 * A JSON logger whose every line carries `service` and `traceId` (the current request's,
 * or the process's own outside requests). Lines go to stdout; or, when `file` is given (default: the
 * LOG_FILE environment variable), every line to that file (appended, folder created) and warnings and
 * errors to stderr as well, so whoever watches the process sees problems without the stream of lines.
 */
export function createLogger(
  service: string,
  options: { level?: string; destination?: DestinationStream; file?: string } = {},
): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const file = options.destination ? undefined : (options.file ?? (process.env[LOG_FILE_ENV] || undefined));
  const pinoOptions: LoggerOptions = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    mixin() {
      const trace = currentTrace();
      return trace ? { traceId: trace.traceId, spanId: trace.spanId } : { traceId: processTraceId };
    },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  if (options.destination) return pino(pinoOptions, options.destination);
  if (!file || level === 'silent') return pino(pinoOptions);
  const streams = pino.multistream(
    [
      {
        level: level as pino.Level,
        stream: pino.destination({ dest: file, append: true, mkdir: true, sync: false }),
      },
      { level: 'warn', stream: pino.destination({ dest: 2, sync: true }) },
    ],
    // a line goes to every stream whose level it reaches (not only the highest)
    { dedupe: false },
  );
  return pino(pinoOptions, streams);
}
