// The consent state machine is enforced twice: in TypeScript (the contract's table, which the store
// checks before every change) and in SQL (the migration's CHECK constraint and trigger, which refuse a
// bad change whatever code path makes it). These tests fail when the two disagree: first by reading the
// migration's text, then by trying every change against a freshly migrated database.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  canTransition,
  consentStatuses,
  consentTransitions,
  expiringConsentStatuses,
  initialConsentStatus,
  type ConsentStatus,
} from '@ndx/contract';
import { createPool, migrate, type Pool } from '@ndx/service-kit';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { migrationsDir } from '../src/app.ts';

/** Every migration, in the order they run, as one text. */
const migrationSql = readdirSync(migrationsDir)
  .filter((f) => f.endsWith('.sql'))
  .sort()
  .map((f) => readFileSync(join(migrationsDir, f), 'utf8'))
  .join('\n');

/** `'A', 'B'` → ['A', 'B'] */
const quotedList = (text: string): string[] =>
  text.split(',').map((item) => {
    const match = /^\s*'(\w+)'(?:::text)?\s*$/.exec(item);
    if (!match) throw new Error(`not a quoted status: ${item}`);
    return match[1]!;
  });

const sorted = (list: readonly string[]) => [...list].sort();

/** The statuses the CHECK constraint on consents.status allows. */
function checkedStatuses(sql: string): string[] {
  const match = /\bstatus\s+text\s+NOT\s+NULL\s+CHECK\s*\(\s*status\s+IN\s*\(([^)]*)\)\s*\)/i.exec(sql);
  if (!match) throw new Error('no CHECK (status IN (…)) on consents.status in the migrations');
  return quotedList(match[1]!);
}

/**
 * The transitions the trigger function consents_check_transition allows, read from its last
 * definition: `IF NEW.status = OLD.status THEN RETURN NEW` (no change), then one
 * `IF (OLD.status = 'X' AND NEW.status IN ('Y', …)) OR (…) THEN RETURN NEW`, then RAISE. Anything
 * else in the function fails the parse, so a rule written another way cannot slip past this test.
 */
function triggerTransitions(sql: string): Record<string, string[]> {
  const definitions = [
    ...sql.matchAll(
      /CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+consents_check_transition\s*\(\s*\)[\s\S]*?AS\s+\$\$([\s\S]*?)\$\$/gi,
    ),
  ];
  const body = definitions.at(-1)?.[1];
  if (!body) throw new Error('no consents_check_transition function in the migrations');
  const shape =
    /^\s*BEGIN\s+IF\s+NEW\.status\s*=\s*OLD\.status\s+THEN\s+RETURN\s+NEW;\s+END\s+IF;\s+IF\s+([\s\S]+?)\s+THEN\s+RETURN\s+NEW;\s+END\s+IF;\s+RAISE\s+EXCEPTION\s[^;]*;\s*END;\s*$/i;
  const condition = shape.exec(body)?.[1];
  if (!condition) throw new Error(`consents_check_transition has a shape this test does not read:\n${body}`);
  const allowed: Record<string, string[]> = {};
  for (const clause of condition.split(/\s+OR\s+/i)) {
    const match =
      /^\(\s*OLD\.status\s*=\s*'(\w+)'\s+AND\s+NEW\.status\s+(?:IN\s*\(([^)]*)\)|=\s*'(\w+)')\s*\)$/i.exec(
        clause.trim(),
      );
    if (!match) throw new Error(`a clause of consents_check_transition this test does not read: ${clause}`);
    const targets = match[2] !== undefined ? quotedList(match[2]) : [match[3]!];
    allowed[match[1]!] = [...(allowed[match[1]!] ?? []), ...targets];
  }
  return allowed;
}

/** The status list in the WHERE of a partial index. */
function indexPredicate(sql: string, index: string): string[] {
  const match = new RegExp(
    `CREATE\\s+(?:UNIQUE\\s+)?INDEX\\s+${index}\\s+ON\\s+consents[^;]*?WHERE\\s+status\\s+(?:IN\\s*\\(([^)]*)\\)|=\\s*('\\w+'))\\s*;`,
    'i',
  ).exec(sql);
  if (!match) throw new Error(`no partial index ${index} on consents.status`);
  return quotedList(match[1] ?? match[2]!);
}

/** The contract's table with every status as a key, targets sorted. */
const contractTable = Object.fromEntries(consentStatuses.map((s) => [s, sorted(consentTransitions[s])]));

describe('the consent state machine in the migration’s SQL text', () => {
  it('the CHECK constraint lists exactly the contract’s statuses', () => {
    expect(sorted(checkedStatuses(migrationSql))).toEqual(sorted(consentStatuses));
  });

  it('the trigger allows exactly the contract’s transitions', () => {
    const fromSql = triggerTransitions(migrationSql);
    const sqlTable = Object.fromEntries(
      [...new Set([...consentStatuses, ...Object.keys(fromSql)])].map((s) => [s, sorted(fromSql[s] ?? [])]),
    );
    expect(sqlTable).toEqual(contractTable);
  });

  it('the partial indexes select the open requests and the expiring statuses the store queries by', () => {
    expect(indexPredicate(migrationSql, 'consents_one_open_request')).toEqual([initialConsentStatus]);
    expect(sorted(indexPredicate(migrationSql, 'consents_open_by_expiry'))).toEqual(
      sorted(expiringConsentStatuses),
    );
  });
});

describe('the consent state machine in a migrated database', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase('ce_status_sql');
    pool = createPool(db.url, testLogger());
    await migrate(pool, migrationsDir);
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  /** A consent inserted directly in the given status (the trigger guards updates, not inserts). */
  async function consentIn(status: ConsentStatus): Promise<string> {
    const id = randomUUID();
    const now = new Date('2026-03-01T09:00:00Z');
    await pool.query(
      `INSERT INTO consents (id, citizen_id, consumer_id, purpose, purpose_text, legal_basis, fields, status,
         request_key, notice_version, duration_seconds, created_at, expires_at, updated_at)
       VALUES ($1, '852321234V', 'passport-app', 'passport-application', 'text', 'consent', '[]', $2,
         $3, 'n1', 3600, $4, $4, $4)`,
      [id, status, `key-${id}`, now],
    );
    return id;
  }

  /** Whether the database lets a consent in `from` become `to`; any refusal other than the trigger's fails. */
  async function databaseAllows(from: ConsentStatus, to: ConsentStatus): Promise<boolean> {
    const id = await consentIn(from);
    try {
      const { rowCount } = await pool.query('UPDATE consents SET status = $2 WHERE id = $1', [id, to]);
      return rowCount === 1;
    } catch (err) {
      const { code, message } = err as { code?: string; message: string };
      if (code === '23514' && message.includes(`may not go from ${from} to ${to}`)) return false;
      throw err;
    }
  }

  it('the database’s CHECK constraint allows exactly the contract’s statuses', async () => {
    const { rows } = await pool.query<{ definition: string }>(
      `SELECT pg_get_constraintdef(c.oid) AS definition FROM pg_constraint c
        WHERE c.conrelid = 'consents'::regclass AND c.contype = 'c'
          AND pg_get_constraintdef(c.oid) LIKE '%status%'`,
    );
    expect(rows).toHaveLength(1);
    const array = /ARRAY\[([^\]]*)\]/.exec(rows[0]!.definition)?.[1] ?? '';
    expect(sorted(quotedList(array))).toEqual(sorted(consentStatuses));
  });

  it('the database accepts exactly the transitions the contract allows, and refuses every other', async () => {
    const database: string[] = [];
    const contract: string[] = [];
    for (const from of consentStatuses) {
      for (const to of consentStatuses) {
        if (to === from) continue;
        database.push(`${from} → ${to}: ${(await databaseAllows(from, to)) ? 'allowed' : 'refused'}`);
        contract.push(`${from} → ${to}: ${canTransition(from, to) ? 'allowed' : 'refused'}`);
      }
    }
    expect(database).toEqual(contract);
  });

  it('the database lets a consent stay in its status (an update that changes no status)', async () => {
    for (const status of consentStatuses) expect(await databaseAllows(status, status)).toBe(true);
  });
});
