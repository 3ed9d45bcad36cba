import { z } from 'zod';
import { ConfigError } from './errors.ts';

type Env = Record<string, string | undefined>;

/**
 * Parses environment variables into a typed config once, at start-up.
 * A missing or bad value throws a ConfigError naming every offending variable.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: Env = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const variable = issue.path.join('.') || '(environment)';
    const received = issue.path.length ? env[String(issue.path[0])] : undefined;
    return received === undefined
      ? `${variable}: ${issue.message}`
      : `${variable}=${JSON.stringify(received)}: ${issue.message}`;
  });
  throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
}

/** Common building blocks for service config schemas. */
export const configFields = {
  port: (defaultPort: number) => z.coerce.number().int().min(0).max(65535).default(defaultPort),
  host: () => z.string().min(1).default('127.0.0.1'),
  databaseUrl: () =>
    z
      .string({ error: 'is required (postgres://user:password@host:port/database)' })
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  url: () => z.url({ error: 'must be an absolute URL' }),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  boolean: (defaultValue: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .default(defaultValue ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  secret: (minLength = 16) => z.string().min(minLength, `must be at least ${minLength} characters`),
};

/** The settings every HTTP service shares. Spread into a service's own schema. */
export const baseServiceConfig = (defaultPort: number) => ({
  PORT: configFields.port(defaultPort),
  HOST: configFields.host(),
  LOG_LEVEL: configFields.logLevel(),
});
