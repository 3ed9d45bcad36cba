/**
 * ndx: the operators' command line (run it as bin/ndx).
 *   ndx audit verify [--chain ID [--from N]]  walk every audit hash chain (one per OE instance); exit 1 when one is broken
 *   ndx audit export --citizen NIC            every audit record about one citizen, JSON lines
 *   ndx audit head                            each chain's head (chain id, last place and hash)
 * The audit database is DATABASE_URL when set, else the local stack's (started by ./init.sh).
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { runAuditCli } from '@ndx/audit/cli';

const repoRoot = resolve(import.meta.dirname, '..', '..', '..');

const USAGE = `usage: ndx <command>

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
Exit codes: 0 done / chain intact, 1 chain broken, 2 bad usage or database unreachable.`;

type Env = Record<string, string | undefined>;

/** The audit database URL: DATABASE_URL, else the local stack's from its secrets file. Throws with a reason. */
export function auditDatabaseUrl(env: Env, root: string = repoRoot): string {
  if (env.DATABASE_URL) return env.DATABASE_URL;
  const secretsFile = env.NDX_SECRETS_FILE
    ? resolve(env.NDX_SECRETS_FILE)
    : resolve(root, '.secrets', 'secrets.json');
  if (!existsSync(secretsFile)) {
    throw new Error(
      `DATABASE_URL is not set and there are no local stack secrets at ${secretsFile} ` +
        '(start the stack with ./init.sh first, or set DATABASE_URL to the ndx_audit database)',
    );
  }
  let secrets: Record<string, unknown>;
  try {
    secrets = JSON.parse(readFileSync(secretsFile, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`cannot read ${secretsFile}: ${(err as Error).message}`, { cause: err });
  }
  const password = secrets['postgres.ndx_audit'];
  if (typeof password !== 'string' || password === '') {
    throw new Error(
      `${secretsFile} has no postgres.ndx_audit password (has the stack with the orchestration engine run once?)`,
    );
  }
  const offset = Number(env.NDX_PORT_OFFSET ?? 0);
  if (!Number.isInteger(offset) || offset < 0 || offset > 50_000) {
    throw new Error(`NDX_PORT_OFFSET must be a whole number from 0 to 50000, got ${env.NDX_PORT_OFFSET}`);
  }
  return `postgres://ndx_audit_owner:${encodeURIComponent(password)}@127.0.0.1:${5432 + offset}/ndx_audit`;
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
