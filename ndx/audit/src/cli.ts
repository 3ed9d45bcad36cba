#!/usr/bin/env node
/**
 * ndx-audit: operators' tools for the audit log (database ndx_audit, URL in DATABASE_URL).
 *   ndx-audit verify [--from ID]       walk the hash chain; exit 0 intact, 1 broken
 *   ndx-audit export --citizen NIC     every record about one citizen, JSON lines, oldest first
 *   ndx-audit head                     the chain head (last id and hash), to anchor elsewhere
 * Exit 2 on bad usage or when the database cannot be reached.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { NdxError } from '@ndx/service-kit';
import { chainHead, exportCitizenRecords, parseNic } from './query.ts';
import { verifyChain } from './verify.ts';

const USAGE = `usage (DATABASE_URL must point at the ndx_audit database):
  ndx-audit verify [--from ID]     walk the hash chain and report the first broken link
  ndx-audit export --citizen NIC   print every record about a citizen as JSON lines
  ndx-audit head                   print the chain head (last id and hash)`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
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
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (!['verify', 'export', 'head'].includes(command)) throw new UsageError(`unknown command: ${command}`);
  const url = process.env.DATABASE_URL;
  if (!url || !/^postgres(ql)?:\/\//.test(url))
    throw new UsageError('DATABASE_URL must be a postgres:// URL');

  const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined);
  try {
    if (command === 'verify') return await verify(pool, values.from);
    if (command === 'head') {
      console.log(JSON.stringify(await chainHead(pool)));
      return 0;
    }
    if (!values.citizen) throw new UsageError('export needs --citizen NIC');
    const nic = parseNic(values.citizen);
    for await (const record of exportCitizenRecords(pool, nic)) {
      if (!process.stdout.write(`${JSON.stringify(record)}\n`)) {
        await new Promise((resolve) => process.stdout.once('drain', resolve));
      }
    }
    return 0;
  } finally {
    await pool.end();
  }
}

async function verify(pool: pg.Pool, from: string | undefined): Promise<number> {
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
    console.log(`audit chain intact: ${result.count} records verified (head ${result.headId}) in ${ms} ms`);
    return 0;
  }
  console.log(
    `audit chain BROKEN at record ${result.firstBrokenId} (${result.reason}): ${result.detail}\n` +
      `${result.count} records verified before the break`,
  );
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = (err as { code?: unknown }).code;
    if (
      err instanceof UsageError ||
      err instanceof NdxError ||
      (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
    )
      console.error(`ndx-audit: ${(err as Error).message}\n${USAGE}`);
    else console.error(`ndx-audit: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  },
);
