import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { examples } from './examples.ts';
import { NODE_ARGS } from './launcher.ts';
import { seedAccounts } from './seed-accounts.ts';
import { SecretStore } from './secrets.ts';
import { services, type ServiceName, type StackContext } from './services.ts';

/** The env of each container: every NDX service by name, plus `postgres` (provisioning) and `apisix`. */
export type ComposeEnv = Record<ServiceName | 'postgres' | 'apisix', Record<string, string>>;

export interface ComposeEnvOptions {
  /** The generated secrets (created on first use, kept; mode 0600). */
  secretsFile: string;
  /** SEED_CITIZENS for the registries' seeding (default: the seed scripts' own, 100,000). */
  seedCitizens?: number;
  /** SYNTHETIC_SEED for the registries' seeding (default: the seed scripts' own). */
  syntheticSeed?: string;
}

/**
 * A service's URL in the compose stack, the same inside the containers and on the host: `<service>.localhost` is a
 * network alias of the service's container, and on the host browsers and curl resolve every `*.localhost` name to
 * loopback (RFC 6761), where the public services' ports are published. So FUDI's issuer, the consent portal's links
 * and the OAuth redirects work for a citizen's browser and for the services alike.
 */
export function composeUrl(name: ServiceName): string {
  return `http://${name}.localhost:${defaultPort(name)}`;
}

const defaultPort = (name: ServiceName) => services.find((s) => s.name === name)!.defaultPort;

/** The stack as the containers see it: catalogue ports, composeUrl, the given secrets and databases. */
function composeContext(
  secrets: SecretStore,
  repoRoot: string,
  databaseUrl: StackContext['databaseUrl'],
): StackContext {
  return {
    repoRoot,
    dataDir: '/data',
    logLevel: 'info',
    port: defaultPort,
    url: composeUrl,
    databaseUrl,
    secret: (name) => secrets.get(name),
    seedAccounts,
  };
}

/**
 * The environment of every container of docker-compose.yml, from the same catalogue and wiring that ./init.sh
 * uses, with the containers' names (composeUrl) instead of loopback: each service's wiring, its database URL, its prepare
 * script (NDX_PREPARE_SCRIPT, run by the image's start.sh before the service: seeding) and its Node.js options;
 * the provisioning env (superuser and role passwords) for postgres. Secrets are generated on first use.
 */
export function composeEnv(options: ComposeEnvOptions): ComposeEnv {
  const secrets = new SecretStore(options.secretsFile);
  const databaseUrl = (database: string) =>
    `postgres://${database}_owner:${encodeURIComponent(secrets.get(`postgres.${database}`))}@postgres:5432/${database}`;
  const context = composeContext(secrets, '/app', databaseUrl);
  const seeding: Record<string, string> = {
    ...(options.seedCitizens !== undefined ? { SEED_CITIZENS: String(options.seedCitizens) } : {}),
    ...(options.syntheticSeed !== undefined ? { SYNTHETIC_SEED: options.syntheticSeed } : {}),
  };
  const env = {} as ComposeEnv;
  for (const service of services) {
    const nodeArgs = NODE_ARGS[service.name];
    env[service.name] = {
      PORT: String(service.defaultPort),
      HOST: '0.0.0.0',
      LOG_LEVEL: 'info',
      ...(service.database ? { DATABASE_URL: databaseUrl(service.database) } : {}),
      ...(service.wiring.prepareScript
        ? { NDX_PREPARE_SCRIPT: service.wiring.prepareScript, ...seeding }
        : {}),
      ...(nodeArgs ? { NODE_OPTIONS: nodeArgs.join(' ') } : {}),
      ...service.wiring.env(context),
    };
  }
  env.postgres = {
    POSTGRES_PASSWORD: secrets.get('postgres.superuser'),
    NDX_DATABASES: services
      .filter((s) => s.database)
      .map((s) => `${s.database}:${secrets.get(`postgres.${s.database}`)}`)
      .join(','),
  };
  env.apisix = { APISIX_OIDC_CLIENT_SECRET: secrets.get('fudi.client.apisix-gateway') };
  secrets.save();
  return env;
}

/** Writes one `<container>.env` file per container into outDir (mode 0600), as docker-compose.yml reads them. */
export function writeComposeEnv(outDir: string, env: ComposeEnv): string[] {
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  return Object.entries(env).map(([name, values]) => {
    const file = join(outDir, `${name}.env`);
    const lines = Object.entries(values).map(([k, v]) => `${k}=${v.replace(/\n/g, '\\n')}`);
    writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
    return file;
  });
}

/** The working examples ./init.sh prints, for the compose stack (its URLs, its secrets file). */
export function composeExamples(repoRoot: string, secretsFile: string): string[] {
  const context = composeContext(new SecretStore(secretsFile), repoRoot, () => {
    throw new Error('the compose databases are reached from the containers only');
  });
  return examples({ context, services, secretsFile });
}

/**
 * `node ndx/stack/src/compose-env.ts`: writes .secrets/compose/*.env (SEED_CITIZENS, SYNTHETIC_SEED passed on);
 * with `--examples`, prints the working examples for the running compose stack instead.
 */
function main(): void {
  const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
  const secretsFile = process.env.NDX_SECRETS_FILE
    ? resolve(process.env.NDX_SECRETS_FILE)
    : join(repoRoot, '.secrets', 'secrets.json');
  if (process.argv[2] === '--examples') {
    console.log(composeExamples(repoRoot, secretsFile).join('\n'));
    return;
  }
  const seedCitizens = process.env.SEED_CITIZENS;
  if (seedCitizens !== undefined && !/^\d+$/.test(seedCitizens))
    throw new Error(`SEED_CITIZENS must be a whole number, got ${seedCitizens}`);
  const env = composeEnv({
    secretsFile,
    seedCitizens: seedCitizens === undefined ? undefined : Number(seedCitizens),
    syntheticSeed: process.env.SYNTHETIC_SEED,
  });
  const outDir = join(repoRoot, '.secrets', 'compose');
  const files = writeComposeEnv(outDir, env);
  console.log(`wrote ${files.length} env files to ${outDir}`);
}

if (import.meta.main) {
  try {
    main();
  } catch (err) {
    console.error(`compose-env: ${(err as Error).message}`);
    process.exit(1);
  }
}
