import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { provisionDatabases, withDatabase } from '../src/embedded-postgres.ts';
import { postgresAdminUrl, randomSecret } from '../testing/index.ts';

const suffix = randomBytes(3).toString('hex');
const created: string[] = [];
const roles: string[] = [];

async function admin(sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: postgresAdminUrl() });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

async function canConnect(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  for (const db of created) await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  for (const role of roles) await admin(`DROP ROLE IF EXISTS ${role}`);
});

describe('provisioning databases on a server (DATABASE_URL)', () => {
  it('creates each database with its own owning role, and a second run changes nothing but the password', async () => {
    const database = `prov_${suffix}`;
    const role = `${database}_owner`;
    created.push(database);
    roles.push(role);
    const first = await provisionDatabases(postgresAdminUrl(), [
      { database, role, password: randomSecret() },
    ]);
    expect(await canConnect(first[database]!)).toBe(role);
    const owner = await admin('SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1', [
      database,
    ]);
    expect(owner.rows[0].owner).toBe(role);

    const rotated = randomSecret();
    const second = await provisionDatabases(postgresAdminUrl(), [{ database, role, password: rotated }]);
    expect(second[database]).toContain(encodeURIComponent(rotated));
    expect(await canConnect(second[database]!)).toBe(role);
  });

  it('as a user who may not create databases: uses an existing one with its own credentials, names a missing one', async () => {
    const user = `limited_${suffix}`;
    const password = randomSecret();
    roles.push(user);
    const existing = `prov_existing_${suffix}`;
    created.push(existing);
    await admin(`CREATE ROLE ${user} LOGIN PASSWORD '${password}' NOSUPERUSER NOCREATEDB NOCREATEROLE`);
    await admin(`CREATE DATABASE ${existing} OWNER ${user}`);
    const limitedUrl = new URL(postgresAdminUrl());
    limitedUrl.username = user;
    limitedUrl.password = password;

    const urls = await provisionDatabases(limitedUrl.toString(), [
      { database: existing, role: `${existing}_owner`, password: randomSecret() },
    ]);
    expect(urls[existing]).toBe(withDatabase(limitedUrl.toString(), existing));
    expect(await canConnect(urls[existing]!)).toBe(user);

    const missing = `prov_missing_${suffix}`;
    await expect(
      provisionDatabases(limitedUrl.toString(), [
        { database: missing, role: `${missing}_owner`, password: 'x'.repeat(20) },
      ]),
    ).rejects.toThrow(new RegExp(`database ${missing} does not exist`));
    const exists = await admin('SELECT 1 FROM pg_database WHERE datname = $1', [missing]);
    expect(exists.rowCount).toBe(0);
  });

  it('refuses names that are not plain identifiers', async () => {
    await expect(
      provisionDatabases(postgresAdminUrl(), [
        { database: 'x; DROP DATABASE postgres', role: 'r', password: 'p' },
      ]),
    ).rejects.toThrow(/not a safe PostgreSQL identifier/);
  });
});
