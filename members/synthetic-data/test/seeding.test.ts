import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, migrate, type Pool } from '@ndx/service-kit';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { generateCitizens } from '../src/index.ts';
import { copyField, seedRegistry, type Registry } from '../src/seeding.ts';

const repoRoot = join(import.meta.dirname, '..', '..', '..');
const serviceDirs: Record<Registry, string> = {
  rgd: join(repoRoot, 'members/rgd/data-sources/rgd-api'),
  drp: join(repoRoot, 'members/drp/data-sources/drp-api'),
  dmt: join(repoRoot, 'members/dmt/data-sources/dmt-soap-api'),
};
const CITIZENS = 2_000;

/** Runs a service's prepare script as the launcher does: `node src/seed.ts` in its folder. */
function runSeedScript(
  registry: Registry,
  databaseUrl: string,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/seed.ts'], {
      cwd: serviceDirs[registry],
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: databaseUrl,
        SEED_CITIZENS: String(CITIZENS),
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

const expected = (() => {
  const citizens = [...generateCitizens({ citizens: CITIZENS })];
  const vehicles = citizens.flatMap((c) => c.vehicles);
  return {
    births: citizens.length,
    persons: citizens.filter((c) => c.person).length,
    vehicles: vehicles.length,
    assignments: vehicles.reduce((n, v) => n + v.classCodes.length, 0),
  };
})();

describe('seeding the member registries with their prepare scripts', () => {
  const dbs: Partial<Record<Registry, TestDatabase>> = {};
  const pools: Partial<Record<Registry, Pool>> = {};
  const pool = (r: Registry) => pools[r]!;
  const count = async (r: Registry, table: string) =>
    (await pool(r).query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;

  beforeAll(async () => {
    for (const registry of ['rgd', 'drp', 'dmt'] as const) {
      dbs[registry] = await createTestDatabase(`seed_${registry}`);
      pools[registry] = createPool(dbs[registry].url, testLogger());
    }
    // The three scripts run at once, as init.sh runs them.
    const runs = await Promise.all(
      (['rgd', 'drp', 'dmt'] as const).map((r) => runSeedScript(r, dbs[r]!.url)),
    );
    for (const run of runs) expect(run.code, run.output).toBe(0);
  });

  afterAll(async () => {
    for (const registry of ['rgd', 'drp', 'dmt'] as const) {
      await pools[registry]?.end();
      await dbs[registry]?.drop();
    }
  });

  it('migrates and loads every generated row into RGD, DRP and DMT', async () => {
    expect(await count('rgd', 'birth_records')).toBe(expected.births);
    expect(await count('drp', 'persons')).toBe(expected.persons);
    expect(expected.persons).toBeLessThan(expected.births);
    expect(await count('dmt', 'vehicles')).toBe(expected.vehicles);
    expect(await count('dmt', 'vehicle_class_assignments')).toBe(expected.assignments);
    expect(await count('dmt', 'vehicle_classes')).toBe(9);
  });

  it('stores the demo citizens as documented', async () => {
    const amara = await pool('rgd').query(
      `SELECT full_name, to_char(date_of_birth, 'YYYY-MM-DD') AS dob, sex, district, mother_name FROM birth_records WHERE nic = '199560201234'`,
    );
    expect(amara.rows).toEqual([
      {
        full_name: 'Amara Chanda',
        dob: '1995-04-12',
        sex: 'FEMALE',
        district: 'Ibombo',
        mother_name: 'Grace Chanda',
      },
    ]);
    const faith = await pool('drp').query(`SELECT 1 FROM persons WHERE nic = '200360207777'`);
    expect(faith.rowCount).toBe(0);
    const esther = await pool('drp').query(`SELECT full_name FROM persons WHERE nic = '199066604567'`);
    expect(esther.rows).toEqual([{ full_name: 'Ester Banda' }]);
    const daliso = await pool('dmt').query(
      `SELECT v.registration_number, array_agg(a.class_code ORDER BY a.class_code) AS classes
         FROM vehicles v JOIN vehicle_class_assignments a USING (registration_number)
        WHERE v.owner_nic = '783345678V' GROUP BY v.registration_number ORDER BY v.registration_number`,
    );
    expect(daliso.rows).toEqual([
      { registration_number: 'BUS-3310', classes: ['D'] },
      { registration_number: 'KAF-0987', classes: ['A1'] },
      { registration_number: 'NDA-4521', classes: ['B'] },
    ]);
  });

  it('records the run, and a second run changes nothing', async () => {
    const before = await pool('dmt').query('SELECT seed, row_count, completed_at FROM seed_runs');
    expect(before.rows).toHaveLength(1);
    expect(before.rows[0].seed).toBe(`farajaland-2026/${CITIZENS}`);
    const again = await runSeedScript('dmt', dbs.dmt!.url);
    expect(again.code, again.output).toBe(0);
    expect(again.output).toMatch(/already seeded/);
    expect(await count('dmt', 'vehicles')).toBe(expected.vehicles);
    const after = await pool('dmt').query('SELECT seed, row_count, completed_at FROM seed_runs');
    expect(after.rows).toEqual(before.rows);
  });
});

describe('a seeding run that fails', () => {
  let db: TestDatabase;
  let pool: Pool;
  beforeAll(async () => {
    db = await createTestDatabase('seed_fail');
    pool = createPool(db.url, testLogger());
    await migrate(pool, join(serviceDirs.drp, 'migrations'));
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('leaves nothing half-done, and the next run seeds everything', async () => {
    // A row that clashes with the 100th generated citizen makes the COPY fail midway.
    const clash = [...generateCitizens({ citizens: 100 })].filter((c) => c.person).at(-1)!.person!;
    await pool.query(
      `INSERT INTO persons (nic, full_name, permanent_address, sex, date_of_birth) VALUES ($1, 'Clash', 'Nowhere', 'MALE', '2000-01-01')`,
      [clash.nic],
    );
    await expect(seedRegistry(pool, 'drp', { citizens: 500 })).rejects.toThrow(/duplicate key/);
    expect((await pool.query('SELECT count(*)::int AS n FROM persons')).rows[0].n).toBe(1);
    expect((await pool.query('SELECT count(*)::int AS n FROM seed_runs')).rows[0].n).toBe(0);

    await pool.query('DELETE FROM persons');
    const result = await seedRegistry(pool, 'drp', { citizens: 500 });
    expect(result.status).toBe('seeded');
    const persons = [...generateCitizens({ citizens: 500 })].filter((c) => c.person).length;
    expect((await pool.query('SELECT count(*)::int AS n FROM persons')).rows[0].n).toBe(persons);
  });
});

describe('COPY text format', () => {
  it('escapes backslashes and control characters and writes null as \\N', () => {
    expect(copyField(null)).toBe('\\N');
    expect(copyField('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re');
    expect(copyField("O'Brien, Plot 4")).toBe("O'Brien, Plot 4");
  });
});
