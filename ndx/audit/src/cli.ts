#!/usr/bin/env node
/**
 * ndx-audit: operators' tools for the audit log (database ndx_audit, URL in DATABASE_URL).
 *   ndx-audit verify [--chain ID [--from N]]  walk every hash chain (or one); exit 0 intact, 1 broken
 *   ndx-audit export --citizen NIC            every record about one citizen, JSON lines, oldest first
 *   ndx-audit head                            each chain's head (last place and hash), to anchor elsewhere
 * Exit 2 on bad usage or when the database cannot be reached.
 * `runAuditCli` is the same program as a function (the root `ndx audit` command calls it).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { NdxError } from '@ndx/service-kit';
import { chainHeads, exportCitizenRecords, requireNic } from './query.ts';
import { verifyChain } from './verify.ts';

const usage = (name: string) => `usage (DATABASE_URL must point at the ndx_audit database):
  ${name} verify [--chain ID [--from N]]  walk every hash chain (or one) and report each chain's first broken link
  ${name} export --citizen NIC            print every record about a citizen as JSON lines
  ${name} head                            print each chain's head (chain id, last place and hash), one JSON line each`;

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
      chain: { type: 'string' },
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
    if (command === 'verify') return await verify(pool, values.chain, values.from, print);
    if (command === 'head') {
      for (const head of await chainHeads(pool)) print(JSON.stringify(head));
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
  chainId: string | undefined,
  from: string | undefined,
  print: (line: string) => void,
): Promise<number> {
  let fromSeq: number | undefined;
  if (from !== undefined) {
    if (chainId === undefined) throw new UsageError('--from needs --chain (a place is in one chain)');
    fromSeq = Number(from);
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 1)
      throw new UsageError('--from must be a positive integer');
  }
  const started = performance.now();
  const result = await verifyChain(pool, { chainId, fromSeq });
  const ms = Math.round(performance.now() - started);
  for (const chain of result.chains) {
    print(
      chain.ok
        ? `chain ${chain.chainId}: intact, ${chain.count} records verified (head ${chain.headSeq})`
        : `chain ${chain.chainId}: BROKEN at record ${chain.firstBrokenSeq}` +
            `${chain.firstBrokenId !== undefined && chain.chainId !== 'legacy' ? ` (id ${chain.firstBrokenId})` : ''}` +
            ` (${chain.reason}): ${chain.detail}; ${chain.count} records verified before the break`,
    );
  }
  const chains = `${result.chains.length} chain${result.chains.length === 1 ? '' : 's'}`;
  if (result.ok) {
    print(`audit log intact: ${result.count} records verified in ${chains} in ${ms} ms`);
    return 0;
  }
  const brokenChains = result.chains.filter((c) => !c.ok).map((c) => c.chainId);
  print(
    `audit log BROKEN in chain ${brokenChains.join(', ')} (${result.count} records verified in ${chains})`,
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
