/**
 * ndx: the operators' command line (run it as bin/ndx).
 * ${CONSUMER_USAGE}
  ndx backup DIR                   a consistent backup of every NDX and member database, online:
                                   the embedded server's base backup with its WAL (or pg_dump per
                                   database when DATABASE_URL names a server), the secrets the
                                   databases' roles need, and a manifest with SHA-256 checksums
  ndx restore DIR                  check the backup's checksums, then restore it into a fresh stack
                                   (NDX_DATA_DIR and NDX_SECRETS_FILE must not hold a stack yet);
                                   start it with ./init.sh (pg_restore into DATABASE_URL's server)
  ndx audit verify [--chain ID [--from N]]  walk every audit hash chain (one per OE instance); exit 1 when one is broken
 *   ndx audit export --citizen NIC            every audit record about one citizen, JSON lines
 *   ndx audit head                            each chain's head (chain id, last place and hash)
 *   ndx status [--json]                       the whole exchange's health on one screen; exit 1 when unhealthy
 *   ndx backup DIR | ndx restore DIR          every database (and the secrets they need), into a fresh stack
 * The audit database is DATABASE_URL when set, else the local stack's (started by ./init.sh).
 */
import { realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runAuditCli } from '@ndx/audit/cli';
import { localStack, type LocalStack } from './local-stack.ts';
import { collectStatus, formatStatus } from './status.ts';
import { CONSUMER_USAGE, runConsumerCli } from './consumer-cli.ts';
import { createOperatorApi } from './operator-api.ts';
import { backupEmbedded, backupWithPgDump, restoreEmbedded, restoreWithPgRestore } from './backup.ts';

const repoRoot = resolve(import.meta.dirname, '..', '..', '..');

const USAGE = `usage: ndx <command>

  ndx status [--json]              every service's readiness (and why not), the active policy
                                   version, consents by status, provider breakers, each audit
                                   chain checked since the last run, versions; exit 1 when
                                   anything is unhealthy

${CONSUMER_USAGE}
  ndx backup DIR                   a consistent backup of every NDX and member database, online:
                                   the embedded server's base backup with its WAL (or pg_dump per
                                   database when DATABASE_URL names a server), the secrets the
                                   databases' roles need, and a manifest with SHA-256 checksums
  ndx restore DIR                  check the backup's checksums, then restore it into a fresh stack
                                   (NDX_DATA_DIR and NDX_SECRETS_FILE must not hold a stack yet);
                                   start it with ./init.sh (pg_restore into DATABASE_URL's server)
  ndx audit verify [--chain ID [--from N]]
                                   walk every audit hash chain (one per OE instance, and the
                                   sealed 'legacy' one); print each chain's count and "intact",
                                   or its first broken record and why (exit 1)
  ndx audit export --citizen NIC   print every audit record about one citizen as JSON lines,
                                   oldest first
  ndx audit head                   print each chain's head (chain id, last place and hash),
                                   one JSON line each, to keep elsewhere

The audit database: DATABASE_URL (pointing at ndx_audit) when set; otherwise the local stack's
embedded PostgreSQL (role ndx_audit_owner, password postgres.ndx_audit from NDX_SECRETS_FILE,
default .secrets/secrets.json; port 5432 + NDX_PORT_OFFSET).
ndx status and ndx consumer ask the local stack (NDX_PORT_OFFSET, NDX_SECRETS_FILE, NDX_DATA_DIR as ./init.sh) with the
operator client's token; it keeps its audit checkpoints in <data dir>/ndx-status/audit-checkpoints.json.
Exit codes: 0 done / chain intact / healthy, 1 chain broken / unhealthy, 2 bad usage or database unreachable.`;

type Env = Record<string, string | undefined>;

/** The audit database URL: DATABASE_URL, else the local stack's from its secrets file. Throws with a reason. */
export function auditDatabaseUrl(env: Env, root: string = repoRoot): string {
  if (env.DATABASE_URL) return env.DATABASE_URL;
  try {
    return localStack(env, root).databaseUrl('ndx_audit');
  } catch (err) {
    throw new Error(
      `DATABASE_URL is not set and ${(err as Error).message} (or set DATABASE_URL to the ndx_audit database)`,
      { cause: err },
    );
  }
}

const AUDIT_USAGE = USAGE.split('\n')
  .filter((line) => line.startsWith('  ndx audit'))
  .join('\n');

/** Runs one ndx command; resolves to the exit code. */
export async function runNdxCli(argv: string[], env: Env = process.env): Promise<number> {
  const [group, ...rest] = argv;
  if (group === undefined || group === 'help' || group === '--help' || group === '-h') {
    console.log(USAGE);
    return group === undefined ? 2 : 0;
  }
  if (group === 'status') return runStatus(rest, env);
  if (group === 'backup' || group === 'restore') return runBackupCommand(group, rest, env);
  if (group === 'consumer') {
    let stack: LocalStack;
    try {
      stack = localStack(env, repoRoot);
    } catch (err) {
      console.error(`ndx consumer: ${(err as Error).message}`);
      return 2;
    }
    const api = createOperatorApi({
      url: stack.url,
      operatorSecret: () => stack.secret('fudi.client.ndx-operator'),
    });
    return runConsumerCli(
      rest,
      api,
      (line) => console.log(line),
      (line) => console.error(line),
    );
  }
  if (group !== 'audit') {
    console.error(`ndx: unknown command: ${group}\n${USAGE}`);
    return 2;
  }
  if (rest.length === 0 || rest.includes('--help') || rest.includes('-h')) {
    console.log(`usage:\n${AUDIT_USAGE}`);
    return rest.length === 0 ? 2 : 0;
  }
  let databaseUrl: string;
  try {
    databaseUrl = auditDatabaseUrl(env);
  } catch (err) {
    console.error(`ndx audit: ${(err as Error).message}`);
    return 2;
  }
  return runAuditCli(rest, { databaseUrl, name: 'ndx audit', usage: `usage:\n${AUDIT_USAGE}` });
}

async function runStatus(argv: string[], env: Env): Promise<number> {
  const unknown = argv.filter((a) => a !== '--json');
  if (unknown.length > 0) {
    console.error(`ndx status: unknown argument ${unknown[0]}\nusage: ndx status [--json]`);
    return 2;
  }
  let stack: LocalStack;
  try {
    stack = localStack(env, repoRoot);
  } catch (err) {
    console.error(`ndx status: ${(err as Error).message}`);
    return 2;
  }
  const report = await collectStatus({
    url: stack.url,
    operatorSecret: () => stack.secret('fudi.client.ndx-operator'),
    auditDatabaseUrl: () => auditDatabaseUrl(env),
    checkpointFile: join(stack.dataDir, 'ndx-status', 'audit-checkpoints.json'),
  });
  console.log(argv.includes('--json') ? JSON.stringify(report, null, 2) : formatStatus(report));
  return report.healthy ? 0 : 1;
}

async function runBackupCommand(command: 'backup' | 'restore', argv: string[], env: Env): Promise<number> {
  const [folder, ...extra] = argv;
  if (folder === undefined || folder.startsWith('-') || extra.length > 0) {
    console.error(`usage: ndx ${command} DIR`);
    return 2;
  }
  const dir = resolve(folder);
  const log = (line: string) => console.log(`ndx ${command}: ${line}`);
  try {
    const stack = localStack(env, repoRoot);
    const clusterDir = join(stack.dataDir, 'postgres');
    if (command === 'backup') {
      const manifest = env.DATABASE_URL
        ? await backupWithPgDump({
            adminUrl: env.DATABASE_URL,
            secretsFile: stack.secretsFile,
            target: dir,
            log,
          })
        : await backupEmbedded({
            adminUrl: `postgres://postgres:${encodeURIComponent(stack.secret('postgres.superuser'))}@127.0.0.1:${5432 + stack.offset}/postgres`,
            clusterDir,
            secretsFile: stack.secretsFile,
            target: dir,
            log,
          });
      log(
        `${manifest.kind} backup of ${manifest.databases.length} databases (PostgreSQL ${manifest.postgresVersion}), ${manifest.files.length} files, in ${dir}`,
      );
      log("it holds the stack's secrets: keep it as safe as the stack itself");
    } else {
      const manifest = env.DATABASE_URL
        ? await restoreWithPgRestore({ source: dir, adminUrl: env.DATABASE_URL, log })
        : await restoreEmbedded({ source: dir, clusterDir, secretsFile: stack.secretsFile, log });
      log(`the backup of ${manifest.createdAt} is restored; start the stack with ./init.sh`);
    }
    return 0;
  } catch (err) {
    console.error(`ndx ${command}: ${(err as Error).message}`);
    return 1;
  }
}

/** True when node was asked to run this file (not when a test imports it). */
function isEntryPoint(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === import.meta.filename;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  void runNdxCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
