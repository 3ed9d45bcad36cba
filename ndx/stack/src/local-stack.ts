import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { services, type ServiceName } from './services.ts';

type Env = Record<string, string | undefined>;

/** The stack ./init.sh started on this machine, as the operators' commands find it: ports, secrets, data. */
export interface LocalStack {
  offset: number;
  dataDir: string;
  secretsFile: string;
  url(name: ServiceName): string;
  /** A generated secret by name; throws naming the file when it is not there. */
  secret(name: string): string;
  /** The service database's URL on the embedded server (its owning role and generated password). */
  databaseUrl(database: string): string;
}

/** Reads NDX_PORT_OFFSET, NDX_DATA_DIR and NDX_SECRETS_FILE as ./init.sh does. Throws with a reason. */
export function localStack(env: Env, repoRoot: string): LocalStack {
  const offset = Number(env.NDX_PORT_OFFSET ?? 0);
  if (!Number.isInteger(offset) || offset < 0 || offset > 50_000) {
    throw new Error(`NDX_PORT_OFFSET must be a whole number from 0 to 50000, got ${env.NDX_PORT_OFFSET}`);
  }
  const secretsFile = env.NDX_SECRETS_FILE
    ? resolve(env.NDX_SECRETS_FILE)
    : resolve(repoRoot, '.secrets', 'secrets.json');
  const dataDir = env.NDX_DATA_DIR ? resolve(env.NDX_DATA_DIR) : resolve(repoRoot, '.data');
  let secrets: Record<string, unknown> | undefined;
  const secret = (name: string): string => {
    if (!secrets) {
      if (!existsSync(secretsFile)) {
        throw new Error(
          `there are no local stack secrets at ${secretsFile} (start the stack with ./init.sh first)`,
        );
      }
      try {
        secrets = JSON.parse(readFileSync(secretsFile, 'utf8')) as Record<string, unknown>;
      } catch (err) {
        throw new Error(`cannot read ${secretsFile}: ${(err as Error).message}`, { cause: err });
      }
    }
    const value = secrets[name];
    if (typeof value !== 'string' || value === '')
      throw new Error(
        `${secretsFile} has no ${name} (has the stack run once with the service that needs it?)`,
      );
    return value;
  };
  const port = (name: ServiceName) => {
    const service = services.find((s) => s.name === name);
    if (!service) throw new Error(`no service ${name} in the catalogue`);
    return service.defaultPort + offset;
  };
  return {
    offset,
    dataDir,
    secretsFile,
    url: (name) => `http://127.0.0.1:${port(name)}`,
    secret,
    databaseUrl: (database) =>
      `postgres://${database}_owner:${encodeURIComponent(secret(`postgres.${database}`))}@127.0.0.1:${5432 + offset}/${database}`,
  };
}
