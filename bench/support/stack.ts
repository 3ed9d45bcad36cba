import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startStack, type RunningStack, type ServiceName } from '@ndx/stack';

export const repoRoot = resolve(import.meta.dirname, '..', '..');

export interface BenchStack {
  stack: RunningStack;
  url: (name: ServiceName) => string;
  secret: (name: string) => string;
  databaseUrl: (database: string) => string;
  /** The PostgreSQL server's admin URL (superuser). */
  adminUrl: string;
  /** The embedded PostgreSQL's data folder (postmaster.pid lives there). */
  postgresDataDir: string;
  pid: (name: ServiceName) => number;
  /** A client-credentials access token from the stack's FUDI. */
  fudiToken: (clientId: string, resource: string) => Promise<string>;
  stop: () => Promise<void>;
}

/**
 * The stack exactly as ./init.sh starts it (same launcher, same wiring, every service), seeded with
 * `citizens` synthetic citizens, on a free port offset with its own data folder. Logs at `warn`: the
 * per-request info lines (and their relay through this process) are not part of what is measured.
 */
export async function startBenchStack(options: {
  citizens: number;
  logLevel: string;
  nodeArgs?: Partial<Record<ServiceName, string[]>>;
  print: (line: string) => void;
}): Promise<BenchStack> {
  const folder = await mkdtemp(join(tmpdir(), 'ndx-bench-'));
  await chmod(folder, 0o755);
  process.env.SEED_CITIZENS = String(options.citizens);
  let stack: RunningStack | undefined;
  let lastError: unknown;
  let dataDir = '';
  for (let attempt = 0; attempt < 4 && !stack; attempt++) {
    const offset = 21_000 + 100 * Math.floor(Math.random() * 80);
    dataDir = join(folder, `data-${attempt}`);
    try {
      stack = await startStack({
        repoRoot,
        dataDir,
        secretsFile: join(folder, 'secrets.json'),
        portOffset: offset,
        logLevel: options.logLevel,
        readyTimeoutMs: 300_000,
        nodeArgs: options.nodeArgs,
        print: options.print,
        printServiceLog: (line) => {
          if (/"level":(50|60)|error/i.test(line)) console.error(line);
        },
      });
    } catch (err) {
      lastError = err;
      if (!/already in use/.test((err as Error).message)) throw err;
    }
  }
  if (!stack) throw lastError;
  const running = stack;
  const { context } = running;
  return {
    stack: running,
    url: (name) => context.url(name),
    secret: (name) => context.secret(name),
    databaseUrl: (database) => context.databaseUrl(database),
    adminUrl: running.postgresAdminUrl,
    postgresDataDir: join(dataDir, 'postgres'),
    pid: (name) => {
      const pid = running.pid(name);
      if (pid === undefined) throw new Error(`${name} is not running`);
      return pid;
    },
    fudiToken: async (clientId, resource) => {
      const response = await fetch(`${context.url('identity-provider')}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${clientId}:${context.secret(`fudi.client.${clientId}`)}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource }),
      });
      const body = (await response.json()) as { access_token?: string; error?: string };
      if (!body.access_token) throw new Error(`no token for ${clientId}: ${response.status} ${body.error}`);
      return body.access_token;
    },
    stop: async () => {
      try {
        await running.stop();
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    },
  };
}
