import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { seedAccounts } from './seed-accounts.ts';
import { SecretStore } from './secrets.ts';
import { services, type StackContext } from './services.ts';

/**
 * Writes one env file per service for docker-compose (.secrets/compose/<service>.env), from the same
 * catalogue and wiring that ./init.sh uses, with container host names instead of loopback, plus the
 * provisioning env (databases and role passwords) for the one-shot `provision` container.
 */
function main(): void {
  const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
  const secrets = new SecretStore(join(repoRoot, '.secrets', 'secrets.json'));
  const outDir = join(repoRoot, '.secrets', 'compose');
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const databaseUrl = (database: string) =>
    `postgres://${database}_owner:${encodeURIComponent(secrets.get(`postgres.${database}`))}@postgres:5432/${database}`;
  const context: StackContext = {
    repoRoot: '/app',
    dataDir: '/data',
    logLevel: 'info',
    port: (name) => services.find((s) => s.name === name)!.defaultPort,
    url: (name) => `http://${name}:${services.find((s) => s.name === name)!.defaultPort}`,
    databaseUrl,
    secret: (name) => secrets.get(name),
    seedAccounts,
  };
  for (const service of services) {
    const env: Record<string, string> = {
      PORT: String(service.defaultPort),
      HOST: '0.0.0.0',
      LOG_LEVEL: 'info',
      ...(service.database ? { DATABASE_URL: databaseUrl(service.database) } : {}),
      ...service.wiring.env(context),
    };
    writeEnvFile(join(outDir, `${service.name}.env`), env);
  }
  const provision: Record<string, string> = {
    POSTGRES_PASSWORD: secrets.get('postgres.superuser'),
    NDX_DATABASES: services
      .filter((s) => s.database)
      .map((s) => `${s.database}:${secrets.get(`postgres.${s.database}`)}`)
      .join(','),
  };
  writeEnvFile(join(outDir, 'postgres.env'), provision);
  writeEnvFile(join(outDir, 'apisix.env'), {
    APISIX_OIDC_CLIENT_SECRET: secrets.get('fudi.client.apisix-gateway'),
  });
  secrets.save();
  console.log(`wrote ${services.length + 2} env files to ${outDir}`);
}

function writeEnvFile(file: string, env: Record<string, string>): void {
  const lines = Object.entries(env).map(([k, v]) => `${k}=${v.replace(/\n/g, '\\n')}`);
  writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
}

main();
