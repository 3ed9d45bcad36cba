import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditWriter, migrateAudit, type AuditRecord } from '@ndx/audit';
import { createPool, type Pool } from '@ndx/service-kit';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { auditDatabaseUrl } from '@ndx/stack/ndx-cli';
import { runNdx } from './support/ndx-cli.ts';
import { asSuperuserWithoutTrigger } from '@ndx/audit/testing';

const AMARA = '199560201234';
const BWALYA = '852321234V';

let db: TestDatabase;
let pool: Pool;
let scratch: string;
const ids: Record<string, number[]> = { [AMARA]: [], [BWALYA]: [] };

beforeAll(async () => {
  db = await createTestDatabase('ndx_cli');
  pool = createPool(db.url, testLogger());
  await migrateAudit(pool);
  const writer = createAuditWriter(pool, testLogger(), { chainId: 'oe-cli' });
  for (let i = 0; i < 12; i++) {
    const citizenId = i % 3 === 0 ? BWALYA : AMARA;
    const { id } = await writer.append({
      traceId: randomUUID().replaceAll('-', ''),
      consumerId: 'passport-app',
      purpose: 'passport-application',
      citizenId,
      fieldsRequested: [{ providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.fullName' }],
      fieldsReleased: [{ providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.fullName' }],
      outcome: 'SUCCESS',
    });
    ids[citizenId]!.push(id);
  }
  await writer.close();
  scratch = await mkdtemp(join(tmpdir(), 'ndx-cli-test-'));
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('ndx audit (operator CLI)', () => {
  it('verify walks an intact chain and prints the count', async () => {
    const run = await runNdx(['audit', 'verify'], { DATABASE_URL: db.url });
    expect(run).toMatchObject({ code: 0 });
    expect(run.stdout).toMatch(
      /^chain oe-cli: intact, 12 records verified \(head 12\)\naudit log intact: 12 records verified in 1 chain in \d+ ms\n$/,
    );
  });

  it('head prints the chain id, last place and hash of each chain', async () => {
    const run = await runNdx(['audit', 'head'], { DATABASE_URL: db.url });
    expect(run.code).toBe(0);
    const { rows } = await pool.query<{ hash: string }>(
      `SELECT hash FROM audit_log WHERE chain_id = 'oe-cli' AND seq = 12`,
    );
    expect(JSON.parse(run.stdout)).toEqual({ chainId: 'oe-cli', lastSeq: 12, lastHash: rows[0]!.hash });
  });

  it('export prints every record of one citizen, and only that citizen, as JSON lines oldest first', async () => {
    const run = await runNdx(['audit', 'export', '--citizen', BWALYA.toLowerCase()], {
      DATABASE_URL: db.url,
    });
    expect(run.code).toBe(0);
    const records = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditRecord);
    expect(records.map((r) => r.id)).toEqual(ids[BWALYA]);
    expect(records.every((r) => r.citizenId === BWALYA)).toBe(true);
  });

  it('refuses a malformed NIC, an unknown command and a missing --citizen with exit 2 and the usage', async () => {
    const badNic = await runNdx(['audit', 'export', '--citizen', 'nope'], { DATABASE_URL: db.url });
    expect(badNic.code).toBe(2);
    expect(badNic.stderr).toMatch(/^ndx audit: not a NIC/);
    const unknown = await runNdx(['audit', 'rewrite'], { DATABASE_URL: db.url });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('ndx audit export --citizen NIC');
    const noCitizen = await runNdx(['audit', 'export'], { DATABASE_URL: db.url });
    expect(noCitizen.code).toBe(2);
    expect(noCitizen.stderr).toContain('export needs --citizen NIC');
    const other = await runNdx(['frobnicate']);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('unknown command: frobnicate');
  });

  it('without DATABASE_URL it says where it looked when the local stack has no secrets yet (exit 2)', async () => {
    const missing = join(scratch, 'no-such-secrets.json');
    const run = await runNdx(['audit', 'verify'], { NDX_SECRETS_FILE: missing });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`no local stack secrets at ${missing}`);
  });

  it('without DATABASE_URL it builds the local stack URL from the secrets file and NDX_PORT_OFFSET', async () => {
    const file = join(scratch, 'secrets.json');
    await writeFile(file, JSON.stringify({ 'postgres.ndx_audit': 'p@ss/word', 'postgres.superuser': 'x' }));
    expect(auditDatabaseUrl({ NDX_SECRETS_FILE: file, NDX_PORT_OFFSET: '100' })).toBe(
      'postgres://ndx_audit_owner:p%40ss%2Fword@127.0.0.1:5532/ndx_audit',
    );
    expect(auditDatabaseUrl({ NDX_SECRETS_FILE: file })).toBe(
      'postgres://ndx_audit_owner:p%40ss%2Fword@127.0.0.1:5432/ndx_audit',
    );
    expect(auditDatabaseUrl({ DATABASE_URL: db.url, NDX_SECRETS_FILE: file })).toBe(db.url);
    await writeFile(file, JSON.stringify({ 'postgres.rgd': 'x' }));
    expect(() => auditDatabaseUrl({ NDX_SECRETS_FILE: file })).toThrow(/has no postgres\.ndx_audit/);
  });

  it('verify exits 1 and names the first broken record after a record was edited', async () => {
    await asSuperuserWithoutTrigger(pool, `UPDATE audit_log SET consumer_id = 'someone-else' WHERE id = 7`);
    const run = await runNdx(['audit', 'verify'], { DATABASE_URL: db.url });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/chain oe-cli: BROKEN at record 7 \(id 7\) \(HASH_MISMATCH\)/);
    expect(run.stdout).toContain('6 records verified before the break');
    expect(run.stdout).toMatch(/audit log BROKEN in chain oe-cli/);
  });
});
