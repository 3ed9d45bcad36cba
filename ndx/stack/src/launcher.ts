import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LOG_FILE_ENV } from '@ndx/service-kit';
import { provisionDatabases, startEmbeddedPostgres, type RunningPostgres } from '@ndx/service-kit/postgres';
import { bundledScript, bundleKindsOf, type BundleKind } from './bundles.ts';
import { SecretStore } from './secrets.ts';
import { createSupervisor, type SupervisionOptions, type Supervisor } from './supervisor.ts';
import { seedAccounts } from './seed-accounts.ts';
import {
  isPortFree,
  runNodeScript,
  spawnNodeProcess,
  stopProcess,
  waitUntilReady,
  type ManagedProcess,
} from './processes.ts';
import {
  services,
  startWaves,
  type ServiceDefinition,
  type ServiceName,
  type StackContext,
} from './services.ts';

/**
 * Node.js options per service: a small V8 young generation (4 MB semi-spaces instead of up to 16 MB). The OE allocates
 * a lot of short-lived garbage per query while requests wait on the PDP, CE and providers; with V8's default its heap
 * grew to ~200 MB and its RSS to ~277 MB with 32 clients, with 4 MB semi-spaces to ~114 MB and ~212 MB at the same
 * throughput (measured on the 2-core machine, see docs/operator-guide.md "Memory"). The other services do the same
 * at high rates: in the soak at ~100 answers/s RGD's RSS stepped from 178 to 230 MB in one go
 * (V8 growing its heap) late in a 60 s soak, which the soak test cannot tell from a leak.
 * The container env files carry the same options as NODE_OPTIONS (compose-env.ts).
 */
export const NODE_ARGS: Partial<Record<ServiceName, string[]>> = Object.fromEntries(
  services.map((s) => [s.name, ['--max-semi-space-size=4']]),
);

/** The one entry point every service runs with (in its own folder) when it runs from source: service-kit's serve.ts. */
const serveScript = createRequire(import.meta.url).resolve('@ndx/service-kit/serve');

export interface StackOptions {
  repoRoot: string;
  /** Defaults to <repoRoot>/.data */
  dataDir?: string;
  /** Defaults to <repoRoot>/.secrets/secrets.json */
  secretsFile?: string;
  /** Added to every default port (PostgreSQL's too), to run a second stack beside the first. */
  portOffset?: number;
  /** An existing PostgreSQL server (admin URL); otherwise an embedded one is started. */
  databaseUrl?: string;
  /**
   * Put before every database and role name this stack creates on the server (e.g. `s1200_`), so that several
   * stacks can share one server (the end-to-end tests do). Default none: the catalogue's names.
   */
  databasePrefix?: string;
  /** Wipe the data folder before starting. */
  reset?: boolean;
  logLevel?: string;
  readyTimeoutMs?: number;
  /** Start only these services and what they depend on (default: all). */
  only?: ServiceName[];
  /** Where progress and prefixed service logs go. */
  print: (line: string) => void;
  /**
   * Where the services' warnings and errors go (defaults to print). Each service writes its whole log itself
   * to <dataDir>/logs/<service>.log (LOG_FILE); the launcher relays only lines at consoleLevel or above.
   */
  printServiceLog?: (line: string) => void;
  /** Extra node options per service, before its script (e.g. `--cpu-prof` for a benchmark). */
  nodeArgs?: Partial<Record<ServiceName, string[]>>;
  /**
   * Restart a service that exits on its own, saying so on the console (supervisor.ts); ./init.sh turns it on.
   * Off by default: fault tests kill and restart services themselves.
   */
  supervise?: boolean | SupervisionOptions;
  /** The least pino level relayed to printServiceLog (default 40, warn). */
  consoleLevel?: number;
}

export interface RunningStack {
  context: StackContext;
  services: readonly ServiceDefinition[];
  postgresAdminUrl: string;
  secretsFile: string;
  /**
   * Stops the embedded PostgreSQL, runs whileDown, and starts it again on the same data; the services
   * are not told (they must cope, and reconnect by themselves).
   */
  restartPostgres: (whileDown?: () => Promise<void>) => Promise<void>;
  /** The process id of a running service (for benchmarks reading /proc), undefined when not started. */
  pid: (name: ServiceName) => number | undefined;
  /**
   * Sends `signal` (default SIGKILL) to a running service and resolves when its process is gone; nothing
   * restarts it (see restartService). For fault tests; no supervision.
   */
  killService: (name: ServiceName, signal?: NodeJS.Signals) => Promise<void>;
  /**
   * Starts a service again exactly as the launcher first started it (same script, environment and port; its
   * prepare script is not run again) and resolves when its /ready answers 200. Stops it first if it still runs.
   */
  restartService: (name: ServiceName) => Promise<void>;
  stop: () => Promise<void>;
}

/**
 * Starts PostgreSQL (embedded unless databaseUrl), provisions a database and role per service,
 * then prepares (seeds) and starts each service as soon as every service it depends on answers /ready.
 * On any failure everything started so far is stopped.
 */
export async function startStack(options: StackOptions): Promise<RunningStack> {
  const dataDir = options.dataDir ?? join(options.repoRoot, '.data');
  const offset = options.portOffset ?? 0;
  const print = options.print;
  const printServiceLog = options.printServiceLog ?? print;
  const consoleLevel = options.consoleLevel ?? 40;
  if (options.reset && existsSync(dataDir)) {
    print(`reset: removing ${dataDir}`);
    await rm(dataDir, { recursive: true, force: true });
  }
  const secretsFile = options.secretsFile ?? join(options.repoRoot, '.secrets', 'secrets.json');
  const secrets = new SecretStore(secretsFile);

  const ports = Object.fromEntries(services.map((s) => [s.name, s.defaultPort + offset])) as Record<
    ServiceName,
    number
  >;
  const selected = withDependencies(options.only);
  for (const service of selected) {
    if (!(await isPortFree(ports[service.name]))) {
      throw new Error(
        `port ${ports[service.name]} is already in use; ${service.name} needs it (stop what holds it, or set NDX_PORT_OFFSET)`,
      );
    }
  }

  // Each process runs from its bundle (bundles.ts), built (when missing or stale) while PostgreSQL and the
  // earlier services start.
  const bundles = new Map<string, Promise<string | undefined>>();
  const scriptOf = (service: ServiceDefinition, kind: BundleKind) => {
    const key = `${service.name}/${kind}`;
    if (!bundles.has(key)) bundles.set(key, bundledScript(options.repoRoot, service, kind, print));
    return bundles.get(key)!;
  };
  for (const service of selected) for (const kind of bundleKindsOf(service)) void scriptOf(service, kind);

  let postgres: RunningPostgres | undefined;
  let postgresOptions: Parameters<typeof startEmbeddedPostgres>[0] | undefined;
  const restartPostgres = async (whileDown?: () => Promise<void>) => {
    if (!postgres || !postgresOptions)
      throw new Error('only an embedded PostgreSQL can be restarted by the launcher');
    await postgres.stop();
    try {
      await whileDown?.();
    } finally {
      // Started again whatever whileDown did; its error (if any) is rethrown after.
      postgres = await startEmbeddedPostgres(postgresOptions);
    }
  };
  const processes: ManagedProcess[] = [];
  let supervisor: Supervisor | undefined;
  const stop = async () => {
    supervisor?.stop();
    await Promise.all([...processes].reverse().map((p) => stopProcess(p)));
    processes.length = 0;
    if (postgres) {
      print('stopping PostgreSQL');
      await postgres.stop();
      postgres = undefined;
    }
  };

  try {
    let adminUrl = options.databaseUrl;
    if (!adminUrl) {
      const pgPort = 5432 + offset;
      if (!(await isPortFree(pgPort))) {
        throw new Error(
          `port ${pgPort} is already in use; the embedded PostgreSQL needs it (or set DATABASE_URL)`,
        );
      }
      print(`starting PostgreSQL (embedded) on 127.0.0.1:${pgPort}, data in ${join(dataDir, 'postgres')}`);
      postgresOptions = {
        dataDir: join(dataDir, 'postgres'),
        port: pgPort,
        superuserPassword: secrets.get('postgres.superuser'),
      };
      postgres = await startEmbeddedPostgres(postgresOptions);
      adminUrl = postgres.adminUrl;
    } else {
      print('using PostgreSQL at DATABASE_URL');
    }

    const databases = selected.filter((s) => s.database).map((s) => s.database as string);
    const prefix = options.databasePrefix ?? '';
    const provisioned = await provisionDatabases(
      adminUrl,
      databases.map((database) => ({
        database: `${prefix}${database}`,
        role: `${prefix}${database}_owner`,
        password: secrets.get(`postgres.${database}`),
      })),
    );
    const databaseUrls = Object.fromEntries(databases.map((d) => [d, provisioned[`${prefix}${d}`]]));

    const context: StackContext = {
      repoRoot: options.repoRoot,
      dataDir,
      logLevel: options.logLevel ?? 'info',
      port: (name) => ports[name],
      url: (name) => `http://127.0.0.1:${ports[name]}`,
      databaseUrl: (database) => {
        const url = databaseUrls[database];
        if (!url) throw new Error(`no database ${database} in the catalogue`);
        return url;
      },
      secret: (name) => secrets.get(name),
      seedAccounts,
    };
    const logDir = join(dataDir, 'logs');
    await mkdir(logDir, { recursive: true });
    const envs = new Map(
      selected.map((s) => [
        s.name,
        { ...serviceEnv(s, context), [LOG_FILE_ENV]: join(logDir, `${s.name}.log`) },
      ]),
    );
    secrets.save();

    if (options.supervise) {
      supervisor = createSupervisor({
        ...(typeof options.supervise === 'object' ? options.supervise : {}),
        print,
        logFileOf: (name) => envs.get(name as ServiceName)?.[LOG_FILE_ENV],
        // Declared below; called only after a crash, once the stack has started.
        restart: (name) => restartService(name as ServiceName),
      });
    }

    /** Starts one service (its prepare script already run) and waits for its /ready. */
    const launch = async (service: ServiceDefinition) => {
      const cwd = join(options.repoRoot, service.dir);
      const env = envs.get(service.name)!;
      const script = (await scriptOf(service, 'serve')) ?? serveScript;
      print(`starting ${service.name} on port ${ports[service.name]}`);
      const proc = spawnNodeProcess({
        name: service.name,
        script,
        cwd,
        env,
        onLine: printServiceLog,
        consoleLevel,
        nodeArgs: [...(NODE_ARGS[service.name] ?? []), ...(options.nodeArgs?.[service.name] ?? [])],
      });
      processes.push(proc);
      supervisor?.watch(proc);
      try {
        await waitUntilReady(`${context.url(service.name)}/ready`, proc, options.readyTimeoutMs ?? 120_000);
      } catch (err) {
        throw new Error(`${service.name} ${(err as Error).message}\n(its log: ${env[LOG_FILE_ENV]})`, {
          cause: err,
        });
      }
      print(`ready    ${service.name.padEnd(22)} ${context.url(service.name)}`);
    };

    /** Prepares and launches a service once every service it depends on is ready. */
    const started = new Map<ServiceName, Promise<void>>();
    const startInOrder = (service: ServiceDefinition): Promise<void> => {
      let done = started.get(service.name);
      if (!done) {
        done = (async () => {
          const dependencies = selected.filter((s) => service.dependsOn.includes(s.name));
          await Promise.all(dependencies.map(startInOrder));
          if (service.wiring.prepareScript) {
            print(`preparing ${service.name} (${service.wiring.prepareScript})`);
            await runNodeScript({
              name: service.name,
              script: (await scriptOf(service, 'prepare')) ?? service.wiring.prepareScript,
              cwd: join(options.repoRoot, service.dir),
              env: envs.get(service.name)!,
              onLine: printServiceLog,
              consoleLevel,
            });
          }
          await launch(service);
        })();
        started.set(service.name, done);
      }
      return done;
    };
    startWaves(selected); // refuses a dependency cycle before anything starts
    // Settle every start before failing, so that no process is launched after stop() ran.
    const outcomes = await Promise.allSettled(selected.map(startInOrder));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    const processOf = (name: ServiceName) => processes.find((p) => p.name === name);
    const pid = (name: ServiceName) => processOf(name)?.child.pid;
    const killService = async (name: ServiceName, signal: NodeJS.Signals = 'SIGKILL') => {
      const proc = processOf(name);
      if (!proc) throw new Error(`${name} is not running in this stack`);
      if (proc.child.exitCode === null && proc.child.signalCode === null) {
        print(`killing  ${name} (${signal})`);
        supervisor?.release(proc);
        proc.child.kill(signal);
        await proc.exited;
      }
    };
    const restartService = async (name: ServiceName) => {
      const service = selected.find((s) => s.name === name);
      const proc = processOf(name);
      if (!service || !proc) throw new Error(`${name} is not part of this stack`);
      await stopProcess(proc);
      processes.splice(processes.indexOf(proc), 1);
      await launch(service);
    };
    return {
      context,
      services: selected,
      postgresAdminUrl: adminUrl,
      secretsFile,
      restartPostgres,
      pid,
      killService,
      restartService,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The named services and, transitively, everything they depend on (all services when none named). */
function withDependencies(names: ServiceName[] | undefined): ServiceDefinition[] {
  if (!names) return [...services];
  const wanted = new Set<ServiceName>();
  const visit = (name: ServiceName) => {
    if (wanted.has(name)) return;
    wanted.add(name);
    for (const dependency of services.find((s) => s.name === name)?.dependsOn ?? []) visit(dependency);
  };
  names.forEach(visit);
  return services.filter((s) => wanted.has(s.name));
}

function serviceEnv(service: ServiceDefinition, context: StackContext): Record<string, string> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] =>
        e[1] !== undefined &&
        /^(PATH|HOME|LANG|LC_.*|TZ|NODE_.*|TMPDIR|SEED_CITIZENS|SYNTHETIC_SEED)$/.test(e[0]),
    ),
  );
  return {
    ...inherited,
    // V8's code cache on disk: a service (re)started after the first loads its modules without compiling them
    // again (about 15 % of a stack's start here). Node ignores a cache it cannot use.
    NODE_COMPILE_CACHE:
      process.env.NODE_COMPILE_CACHE ?? join(context.repoRoot, 'node_modules', '.cache', 'ndx-node-compile'),
    PORT: String(context.port(service.name)),
    HOST: '127.0.0.1',
    LOG_LEVEL: context.logLevel,
    ...(service.database ? { DATABASE_URL: context.databaseUrl(service.database) } : {}),
    ...service.wiring.env(context),
  };
}
