/**
 * Bulk consent records for the benchmarks (bench/run.ts and bench/consent-check.bench.ts), generated in
 * PostgreSQL: `INSERT INTO consents (explicit columns) SELECT … FROM generate_series`, in batches, with no
 * per-row function call beyond what a column needs (about 1,000,000 rows in 90 s on the loaded 2-core
 * machine). The columns are those of the CE's migrations (ndx/consent-engine/migrations/001, 002), listed
 * once in COLUMNS below: a column the CE adds later with a default needs nothing here, a NOT NULL one
 * without a default makes the insert fail with PostgreSQL's message, naming it.
 */
import type pg from 'pg';

/** The passport query's ten provider fields, as the portal shows them when the citizen grants them. */
export const PASSPORT_CONSENT_FIELDS = [
  ['rgd', 'abc-212', 'getPersonInfo.fullName', 'Name at birth'],
  ['rgd', 'abc-212', 'getPersonInfo.dateOfBirth', 'Date of birth'],
  ['rgd', 'abc-212', 'getPersonInfo.sex', 'Sex'],
  ['rgd', 'abc-212', 'getPersonInfo.birthRegistrationNumber', 'Birth registration number'],
  ['rgd', 'abc-212', 'getPersonInfo.birthPlace', 'Place of birth'],
  ['rgd', 'abc-212', 'getPersonInfo.district', 'District of birth'],
  ['drp', 'drp-schema-v1', 'person.fullName', 'Full name'],
  ['drp', 'drp-schema-v1', 'person.otherNames', 'Other names'],
  ['drp', 'drp-schema-v1', 'person.permanentAddress', 'Permanent address'],
  ['drp', 'drp-schema-v1', 'person.profession', 'Profession'],
].map(([providerKey, schemaId, field, displayName]) => ({
  providerKey: providerKey!,
  schemaId: schemaId!,
  field: field!,
  displayName: displayName!,
  description: `${displayName} as the registry holds it, shared with the Department of Immigration for your passport application.`,
}));

/** The passport query's fields as the OE asks the CE about them (`POST /v1/consents/check`). */
export const PASSPORT_FIELDS = PASSPORT_CONSENT_FIELDS.map(({ providerKey, schemaId, field }) => ({
  providerKey,
  schemaId,
  field,
}));

/**
 * The kinds of record, by what a citizen's history holds: the passport app's consent (active, revoked,
 * expired) and the traffic police's active one. Every kind grants the ten passport fields.
 */
export type ConsentKind = 'passport-active' | 'passport-revoked' | 'passport-expired' | 'traffic-active';
export const ALL_KINDS: readonly ConsentKind[] = [
  'passport-active',
  'passport-revoked',
  'passport-expired',
  'traffic-active',
];

/**
 * Whose records they are. Row i is for citizen number floor(i / kinds) (wrapping around `count`):
 * - `synthetic`: the NIC '19' + that number in 10 digits (citizens no registry knows; the CE does not ask);
 * - `table`: the `nic` of row 1 + that number of a table `(position bigint PRIMARY KEY, nic text)` (see
 *   citizenTable), joined by hash: real citizens of the stack.
 */
export type CitizenSource = { synthetic: true } | { table: string; count: number };

/** A table `name (position, nic)` of `nics` by position (1-based), analysed, on `client`'s session when temporary. */
export async function citizenTable(
  client: pg.Pool | pg.PoolClient,
  name: string,
  nics: readonly string[],
  temporary = false,
): Promise<{ table: string; count: number }> {
  await client.query(
    `CREATE ${temporary ? 'TEMP ' : ''}TABLE ${name} (position bigint PRIMARY KEY, nic text NOT NULL)`,
  );
  await client.query(
    `INSERT INTO ${name} SELECT u.position, u.nic FROM unnest($1::text[]) WITH ORDINALITY AS u(nic, position)`,
    [nics],
  );
  await client.query(`ANALYZE ${name}`);
  return { table: name, count: nics.length };
}

/**
 * The CE's consents columns (migrations 001, 002), each with its value for generated row `i` of kind
 * `k` (the position of the kind in $kinds) and citizen `c.nic`; $granted is the fields' JSON.
 */
const COLUMNS: [column: string, value: string][] = [
  ['id', `md5($prefix || i)::uuid`],
  ['citizen_id', 'c.nic'],
  ['consumer_id', `CASE WHEN kind = 'traffic-active' THEN 'traffic-police-app' ELSE 'passport-app' END`],
  ['purpose', `CASE WHEN kind = 'traffic-active' THEN 'traffic-enforcement' ELSE 'passport-application' END`],
  [
    'purpose_text',
    `CASE WHEN kind = 'traffic-active' THEN 'Traffic enforcement' ELSE 'Passport application' END`,
  ],
  ['legal_basis', `'consent'`],
  ['fields', '$granted'],
  [
    'status',
    `CASE kind WHEN 'passport-revoked' THEN 'REVOKED' WHEN 'passport-expired' THEN 'EXPIRED' ELSE 'ACTIVE' END`,
  ],
  ['request_key', `$prefix || ':' || i`],
  ['notice_version', `'2026-01'`],
  ['duration_seconds', '2592000'],
  ['created_at', `now() - make_interval(secs => i % 86400 + 60)`],
  ['decided_at', `now() - make_interval(secs => i % 86400 + 30)`],
  ['granted_at', `now() - make_interval(secs => i % 86400 + 30)`],
  [
    'expires_at',
    `CASE WHEN kind = 'passport-expired' THEN now() - interval '1 day' ELSE now() + interval '29 days' END`,
  ],
  ['revoked_at', `CASE WHEN kind = 'passport-revoked' THEN now() - make_interval(secs => i % 600) END`],
  ['updated_at', 'now()'],
];

export interface GenerateConsents {
  /** Rows [from, to) of the generated sequence (ids and request keys are unique per prefix and row). */
  from: number;
  to: number;
  /** Distinguishes the ids and request keys of separate calls. */
  prefix: string;
  citizens: CitizenSource;
  kinds?: readonly ConsentKind[];
  /** Rows per statement (default 100,000). */
  batch?: number;
  /** performance.now() after which no further batch starts. */
  deadline?: number;
  onBatch?: (rowsDone: number) => void;
}

/**
 * Inserts the rows in batches and returns how many it inserted (fewer than asked when the deadline
 * passed). Analyses the table at the end.
 */
export async function generateConsents(
  db: pg.Pool | pg.PoolClient,
  options: GenerateConsents,
): Promise<number> {
  const kinds = options.kinds ?? ALL_KINDS;
  const batch = options.batch ?? 100_000;
  const granted = JSON.stringify(PASSPORT_CONSENT_FIELDS.map((f) => ({ ...f, granted: true })));
  const citizen =
    'synthetic' in options.citizens
      ? `LATERAL (SELECT '19' || lpad((i / $nkinds)::text, 10, '0') AS nic) AS c`
      : `${options.citizens.table} AS c`;
  const join =
    'synthetic' in options.citizens
      ? 'true'
      : `c.position = 1 + (i / $nkinds) % ${Number(options.citizens.count)}`;
  const sql = `INSERT INTO consents (${COLUMNS.map(([column]) => column).join(', ')})
    SELECT ${COLUMNS.map(([, value]) => value).join(',\n           ')}
      FROM generate_series($from, $to - 1) AS i
      CROSS JOIN LATERAL (SELECT ($kinds)[(i % $nkinds)::int + 1] AS kind) AS k
      JOIN ${citizen} ON ${join}`;
  // Named placeholders, numbered for pg.
  const names = ['$prefix', '$granted', '$kinds', '$nkinds', '$from', '$to'];
  const types = ['text', 'jsonb', 'text[]', 'bigint', 'bigint', 'bigint'];
  const text = names.reduce((s, name, n) => s.replaceAll(name, `$${n + 1}::${types[n]}`), sql);
  let done = 0;
  for (let start = options.from; start < options.to; start += batch) {
    if (options.deadline !== undefined && performance.now() > options.deadline) break;
    const end = Math.min(start + batch, options.to);
    await db.query(text, [options.prefix, granted, kinds, kinds.length, start, end]);
    done += end - start;
    options.onBatch?.(done);
  }
  await db.query('ANALYZE consents');
  return done;
}
