import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '@ndx/service-kit';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import {
  createAuditWriter,
  exportCitizenRecords,
  listAccessesForCitizen,
  migrateAudit,
  type AuditRecord,
} from '../src/index.ts';
import { AMARA, BWALYA, passportRecord } from './fixtures.ts';
import { asSuperuserWithoutTrigger } from '../testing/index.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', 'src', 'cli.ts');
const logger = testLogger('audit');

describe("a citizen's accesses", () => {
  let db: TestDatabase;
  let pool: Pool;
  const amaraIds: number[] = [];
  beforeAll(async () => {
    db = await createTestDatabase('audit_citizen');
    pool = createPool(db.url, logger);
    await migrateAudit(pool);
    const writer = createAuditWriter(pool, logger, {
      chainId: 'oe-citizen',
      clock: () => new Date('2026-03-01T10:00:00.000Z'),
    });
    for (let i = 0; i < 25; i++) {
      const { id } = await writer.append(passportRecord(AMARA, { traceId: `amara-${i}` }));
      amaraIds.push(id);
      await writer.append(
        passportRecord(BWALYA, { traceId: `bwalya-${i}`, consumerId: 'traffic-police-app' }),
      );
    }
    await writer.append(passportRecord(AMARA, { citizenId: null, traceId: 'no-subject' }));
    await writer.close();
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('lists only that citizen, newest first, with released and withheld fields and reasons', async () => {
    const page = await listAccessesForCitizen(pool, AMARA, { limit: 10 });
    expect(page.items).toHaveLength(10);
    expect(page.items.map((a) => a.id)).toEqual(amaraIds.slice(-10).reverse());
    expect(page.items.every((a) => a.traceId.startsWith('amara-'))).toBe(true);
    expect(page.items[0]).toEqual({
      id: amaraIds[24],
      occurredAt: '2026-03-01T10:00:00.000Z',
      consumerId: 'passport-app',
      purpose: 'passport-application',
      outcome: 'PARTIAL',
      fieldsReleased: [
        {
          providerKey: 'RGD',
          schemaId: 'rgd-v1',
          field: 'person.fullName',
          allowedBy: { basis: 'policy', policyIds: ['grant'] },
        },
        {
          providerKey: 'DRP',
          schemaId: 'drp-v1',
          field: 'person.address',
          allowedBy: { basis: 'consent', consentId: page.items[0]!.consentId },
        },
      ],
      fieldsWithheld: [
        { providerKey: 'DRP', schemaId: 'drp-v1', field: 'person.profession', reason: 'FORBIDDEN' },
      ],
      consentId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      consentRequested: null,
      endUser: null,
      reference: expect.stringMatching(/^[0-9a-f-]{36}$/),
      traceId: 'amara-24',
      formatVersion: 3,
    });
  });

  it('pages through every access exactly once with the keyset cursor', async () => {
    const seen: number[] = [];
    let before: number | undefined;
    for (let guard = 0; guard < 10; guard++) {
      const page = await listAccessesForCitizen(pool, AMARA, { limit: 7, before });
      seen.push(...page.items.map((a) => a.id));
      if (page.nextBefore === null) break;
      before = page.nextBefore;
    }
    expect(seen).toEqual([...amaraIds].reverse());
  });

  it('another citizen sees none of them', async () => {
    const page = await listAccessesForCitizen(pool, BWALYA, { limit: 100 });
    expect(page.items).toHaveLength(25);
    expect(page.items.every((a) => a.consumerId === 'traffic-police-app')).toBe(true);
    expect(page.items.some((a) => amaraIds.includes(a.id))).toBe(false);
    expect((await listAccessesForCitizen(pool, '200150500789')).items).toEqual([]);
  });

  it('refuses a malformed NIC or page size with BAD_REQUEST', async () => {
    await expect(listAccessesForCitizen(pool, "1' OR '1'='1")).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(listAccessesForCitizen(pool, AMARA, { limit: 1_000 })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(listAccessesForCitizen(pool, AMARA, { before: -1 })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
  });

  it('old-format NICs match whatever the letter case', async () => {
    const page = await listAccessesForCitizen(pool, BWALYA.toLowerCase(), { limit: 1 });
    expect(page.items).toHaveLength(1);
  });

  it('export yields every record about the citizen, oldest first, across batches', async () => {
    const records: AuditRecord[] = [];
    for await (const record of exportCitizenRecords(pool, AMARA, { batchSize: 4 })) records.push(record);
    expect(records.map((r) => r.id)).toEqual(amaraIds);
    expect(records.every((r) => r.citizenId === AMARA && /^[0-9a-f]{64}$/.test(r.hash))).toBe(true);
  });

  it('the CLI exports one citizen as JSON lines and verifies the chain', async () => {
    const env = { ...process.env, DATABASE_URL: db.url };
    const exported = await run(process.execPath, [cli, 'export', '--citizen', BWALYA], { env });
    const lines = exported.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditRecord);
    expect(lines).toHaveLength(25);
    expect(lines.every((r) => r.citizenId === BWALYA)).toBe(true);

    const verified = await run(process.execPath, [cli, 'verify'], { env });
    expect(verified.stdout).toMatch(/^chain oe-citizen: intact, 51 records verified \(head 51\)\n/);
    expect(verified.stdout).toMatch(/\naudit log intact: 51 records verified in 1 chain in \d+ ms\n$/);

    const heads = await run(process.execPath, [cli, 'head'], { env });
    const { rows } = await pool.query<{ hash: string }>(
      `SELECT hash FROM audit_log WHERE chain_id = 'oe-citizen' AND seq = 51`,
    );
    expect(
      heads.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([{ chainId: 'oe-citizen', lastSeq: 51, lastHash: rows[0]!.hash }]);
  });

  it('the CLI exits 1 and names the first broken record when the chain was tampered with', async () => {
    await asSuperuserWithoutTrigger(pool, `UPDATE audit_log SET purpose = 'curiosity' WHERE id = 30`);
    const failed = await run(process.execPath, [cli, 'verify'], {
      env: { ...process.env, DATABASE_URL: db.url },
    }).catch((err: { code: number; stdout: string }) => err);
    expect(failed).toMatchObject({ code: 1 });
    expect(failed.stdout).toMatch(/chain oe-citizen: BROKEN at record 30 \(id 30\) \(HASH_MISMATCH\)/);
    expect(failed.stdout).toContain('29 records verified before the break');
  });

  it('the CLI refuses a bad NIC and a missing DATABASE_URL with exit 2', async () => {
    const badNic = await run(process.execPath, [cli, 'export', '--citizen', 'nope'], {
      env: { ...process.env, DATABASE_URL: db.url },
    }).catch((err: { code: number; stderr: string }) => err);
    expect(badNic).toMatchObject({ code: 2 });
    expect(badNic.stderr).toMatch(/not a NIC/);
    const { DATABASE_URL: _unused, ...withoutUrl } = process.env;
    const noUrl = await run(process.execPath, [cli, 'verify'], { env: withoutUrl }).catch(
      (err: { code: number; stderr: string }) => err,
    );
    expect(noUrl).toMatchObject({ code: 2 });
    expect(noUrl.stderr).toMatch(/DATABASE_URL/);
  });
});
