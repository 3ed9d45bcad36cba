import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import {
  createLogger,
  createPool,
  migrate,
  runMain,
  withTransaction,
  type Logger,
  type Pool,
  type PoolClient,
} from '@ndx/service-kit';
import { vehicleClasses } from './catalogues.ts';
import { DEFAULT_CITIZENS, DEFAULT_SEED, generateCitizens } from './generator.ts';
import type { SyntheticCitizen } from './records.ts';

/** The three member registries the generator fills. */
export type Registry = 'rgd' | 'drp' | 'dmt';

export interface SeedOptions {
  seed?: string;
  citizens?: number;
  logger?: Logger;
}

export type SeedResult =
  | { status: 'seeded'; seedRun: string; rows: Record<string, number>; durationMs: number }
  | { status: 'already-seeded'; seedRun: string; rowCount: number };

// One lock id for every seeder: two processes seeding the same database take turns.
const SEED_LOCK_ID = 7_316_002;
const ROWS_PER_CHUNK = 2_000;

/**
 * Loads the generated registry into its (already migrated) database in one transaction with
 * COPY. Seeds once: when `seed_runs` has a row, nothing happens. A failure rolls back whole.
 */
export async function seedRegistry(
  pool: Pool,
  registry: Registry,
  options: SeedOptions = {},
): Promise<SeedResult> {
  const seed = options.seed ?? DEFAULT_SEED;
  const citizens = options.citizens ?? DEFAULT_CITIZENS;
  const seedRun = `${seed}/${citizens}`;
  const started = performance.now();
  return withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [SEED_LOCK_ID]);
    const previous = await client.query<{ seed: string; row_count: number }>(
      'SELECT seed, row_count FROM seed_runs ORDER BY completed_at LIMIT 1',
    );
    if (previous.rows[0]) {
      return {
        status: 'already-seeded',
        seedRun: previous.rows[0].seed,
        rowCount: previous.rows[0].row_count,
      };
    }
    const generated = generateCitizens({ seed, citizens });
    const rows = await loaders[registry](client, generated);
    const total = Object.values(rows).reduce((a, b) => a + b, 0);
    await client.query('INSERT INTO seed_runs (seed, row_count) VALUES ($1, $2)', [seedRun, total]);
    const durationMs = Math.round(performance.now() - started);
    options.logger?.info({ registry, seedRun, rows, durationMs }, 'registry seeded');
    return { status: 'seeded', seedRun, rows, durationMs };
  });
}

type Loader = (client: PoolClient, citizens: Iterable<SyntheticCitizen>) => Promise<Record<string, number>>;

const loaders: Record<Registry, Loader> = {
  rgd: async (client, citizens) => {
    const count = await copyRows(
      client,
      'birth_records (birth_registration_number, nic, full_name, date_of_birth, birth_place, district, division, sex, father_name, father_nic, mother_name, mother_nic, registered_on)',
      mapIterable(citizens, ({ birth: b }) => [
        b.birthRegistrationNumber,
        b.nic,
        b.fullName,
        b.dateOfBirth,
        b.birthPlace,
        b.district,
        b.division,
        b.sex,
        b.fatherName,
        b.fatherNic,
        b.motherName,
        b.motherNic,
        b.registeredOn,
      ]),
    );
    return { birth_records: count };
  },
  drp: async (client, citizens) => {
    const persons = flatMapIterable(citizens, ({ person: p }) =>
      p ? [[p.nic, p.fullName, p.otherNames, p.permanentAddress, p.profession, p.sex, p.dateOfBirth]] : [],
    );
    const count = await copyRows(
      client,
      'persons (nic, full_name, other_names, permanent_address, profession, sex, date_of_birth)',
      persons,
    );
    return { persons: count };
  },
  dmt: async (client, citizens) => {
    for (const c of vehicleClasses) {
      await client.query(
        'INSERT INTO vehicle_classes (class_code, class_name) VALUES ($1, $2) ON CONFLICT (class_code) DO NOTHING',
        [c.classCode, c.className],
      );
    }
    // Vehicles stream into COPY; their class assignments (small) are kept for the second COPY.
    const assignments: (string | null)[][] = [];
    const vehicles = flatMapIterable(citizens, ({ vehicles: list }) =>
      list.map((v) => {
        for (const code of v.classCodes) assignments.push([v.registrationNumber, code]);
        return [v.registrationNumber, v.make, v.model, String(v.yearOfManufacture), v.ownerNic];
      }),
    );
    const vehicleCount = await copyRows(
      client,
      'vehicles (registration_number, make, model, year_of_manufacture, owner_nic)',
      vehicles,
    );
    const assignmentCount = await copyRows(
      client,
      'vehicle_class_assignments (registration_number, class_code)',
      assignments,
    );
    return {
      vehicle_classes: vehicleClasses.length,
      vehicles: vehicleCount,
      vehicle_class_assignments: assignmentCount,
    };
  },
};

/** Streams rows into `COPY table (columns) FROM STDIN` (text format); resolves to the row count. */
async function copyRows(
  client: PoolClient,
  tableAndColumns: string,
  rows: Iterable<readonly (string | null)[]>,
): Promise<number> {
  let count = 0;
  function* chunks(): Generator<string> {
    let chunk = '';
    let inChunk = 0;
    for (const row of rows) {
      chunk += row.map(copyField).join('\t') + '\n';
      count++;
      if (++inChunk === ROWS_PER_CHUNK) {
        yield chunk;
        chunk = '';
        inChunk = 0;
      }
    }
    if (chunk) yield chunk;
  }
  await pipeline(Readable.from(chunks()), client.query(copyFrom(`COPY ${tableAndColumns} FROM STDIN`)));
  return count;
}

/** One field in COPY text format: \N for null, backslash and control characters escaped. */
export function copyField(value: string | null): string {
  if (value === null) return '\\N';
  return /[\\\t\n\r]/.test(value)
    ? value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r')
    : value;
}

function* mapIterable<T, U>(items: Iterable<T>, fn: (item: T) => U): Generator<U> {
  for (const item of items) yield fn(item);
}

function* flatMapIterable<T, U>(items: Iterable<T>, fn: (item: T) => readonly U[]): Generator<U> {
  for (const item of items) yield* fn(item);
}

export interface SeedScriptOptions {
  /** The service's name in logs (its folder name). */
  service: string;
  registry: Registry;
  /** The service's own migrations folder: the database is migrated before seeding. */
  migrationsDir: string;
  env?: Record<string, string | undefined>;
}

/**
 * The body of a service's `src/seed.ts` prepare script: reads DATABASE_URL, SEED_CITIZENS
 * (default 100000) and SYNTHETIC_SEED (default farajaland-2026), migrates, seeds once, exits.
 */
export function runSeedScript(options: SeedScriptOptions): void {
  const env = options.env ?? process.env;
  runMain(`${options.service} seed`, async () => {
    const databaseUrl = env.DATABASE_URL;
    if (!databaseUrl) throw new Error('DATABASE_URL is required');
    const citizens = env.SEED_CITIZENS === undefined ? DEFAULT_CITIZENS : Number(env.SEED_CITIZENS);
    if (!Number.isInteger(citizens) || citizens < 0 || citizens > 10_000_000) {
      throw new Error(`SEED_CITIZENS must be a whole number from 0 to 10000000, got ${env.SEED_CITIZENS}`);
    }
    const seed = env.SYNTHETIC_SEED || DEFAULT_SEED;
    const logger = createLogger(options.service, { level: env.LOG_LEVEL ?? 'info' });
    const pool = createPool(databaseUrl, logger, {
      applicationName: `${options.service}-seed`,
      max: 2,
      statementTimeoutMs: 300_000,
    });
    try {
      await migrate(pool, options.migrationsDir, logger);
      const result = await seedRegistry(pool, options.registry, { seed, citizens, logger });
      if (result.status === 'already-seeded') {
        logger.info({ seedRun: result.seedRun, rowCount: result.rowCount }, 'already seeded; nothing to do');
      }
    } finally {
      await pool.end();
    }
  });
}
