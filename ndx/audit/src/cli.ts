#!/usr/bin/env node
/**
 * ndx-audit: operators' tools for the audit log (database ndx_audit, URL in DATABASE_URL).
 *   ndx-audit verify [--from ID]       walk the hash chain; exit 0 intact, 1 broken
 *   ndx-audit export --citizen NIC     every record about one citizen, JSON lines, oldest first
 *   ndx-audit head                     the chain head (last id and hash), to anchor elsewhere
 * Exit 2 on bad usage or when the database cannot be reached.
 * `runAuditCli` is the same program as a function (the root `ndx audit` command calls it).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { NdxError } from '@ndx/service-kit';
import { chainHead, exportCitizenRecords, requireNic } from './query.ts';
import { verifyChain } from './verify.ts';

const usage = (name: string) => `usage (DATABASE_URL must point at the ndx_audit database):
  ${name} verify [--from ID]     walk the hash chain and report the first broken link
  ${name} export --citizen NIC   print every record about a citizen as JSON lines
  ${name} head                   print the chain head (last id and hash)`;

class UsageError extends Error {}

export interface AuditCliOptions {
  /** postgres:// URL of the ndx_audit database. */
  databaseUrl: string | undefined;
  /** How the program calls itself in messages (default `ndx-audit`). */
  name?: string;
  /** Usage text (default: the ndx-audit usage under `name`). */
  usage?: string;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** Runs one ndx-audit command (argv without the program name); resolves to the exit code, never rejects. */
export async function runAuditCli(argv: string[], options: AuditCliOptions): Promise<number> {
  const name = options.name ?? 'ndx-audit';
  const help = options.usage ?? usage(name);
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  try {
    return await main(argv, options.databaseUrl, help, stdout);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (
      err instanceof UsageError ||
      err instanceof NdxError ||
      (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
    )
      stderr.write(`${name}: ${(err as Error).message}\n${help}\n`);
    else stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
}

async function main(
  argv: string[],
  url: string | undefined,
  help: string,
  stdout: NodeJS.WritableStream,
): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      from: { type: 'string' },
      citizen: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  const print = (line: string) => stdout.write(`${line}\n`);
  if (values.help || !command) {
    print(help);
    return values.help ? 0 : 2;
  }
  if (!['verify', 'export', 'head'].includes(command)) throw new UsageError(`unknown command: ${command}`);
  if (!url || !/^postgres(ql)?:\/\//.test(url))
    throw new UsageError('DATABASE_URL must be a postgres:// URL');

  const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined);
  try {
    if (command === 'verify') return await verify(pool, values.from, print);
    if (command === 'head') {
      print(JSON.stringify(await chainHead(pool)));
      return 0;
    }
    if (!values.citizen) throw new UsageError('export needs --citizen NIC');
    const nic = requireNic(values.citizen);
    for await (const record of exportCitizenRecords(pool, nic)) {
      if (!stdout.write(`${JSON.stringify(record)}\n`)) {
        await new Promise((resolve) => stdout.once('drain', resolve));
      }
    }
    return 0;
  } finally {
    await pool.end();
  }
}

async function verify(
  pool: pg.Pool,
  from: string | undefined,
  print: (line: string) => void,
): Promise<number> {
  let fromId: number | undefined;
  if (from !== undefined) {
    fromId = Number(from);
    if (!Number.isSafeInteger(fromId) || fromId < 1)
      throw new UsageError('--from must be a positive integer');
  }
  const started = performance.now();
  const result = await verifyChain(pool, { fromId });
  const ms = Math.round(performance.now() - started);
  if (result.ok) {
    print(`audit chain intact: ${result.count} records verified (head ${result.headId}) in ${ms} ms`);
    return 0;
  }
  print(
    `audit chain BROKEN at record ${result.firstBrokenId} (${result.reason}): ${result.detail}\n` +
      `${result.count} records verified before the break`,
  );
  return 1;
}

/** True when this module is the program node was asked to run (also through the npm bin symlink). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  void runAuditCli(process.argv.slice(2), { databaseUrl: process.env.DATABASE_URL }).then((code) => {
    process.exitCode = code;
  });
}
