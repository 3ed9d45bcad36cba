import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import pg from 'pg';
import { inject } from 'vitest';
import { createLogger, type Logger } from '../src/logger.ts';
import { withDatabase } from '../src/embedded-postgres.ts';

export * from './browser.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
  }
}

export interface TestDatabase {
  url: string;
  name: string;
  drop: () => Promise<void>;
}

/** The admin URL of the PostgreSQL shared by this test run (started once in global setup). */
export function postgresAdminUrl(): string {
  return inject('postgresAdminUrl');
}

/** A fresh, empty database on the shared test server; drop() removes it. */
export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const adminUrl = postgresAdminUrl();
  const name = `t_${label
    .replace(/[^a-z0-9_]/gi, '_')
    .toLowerCase()
    .slice(0, 30)}_${randomBytes(4).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  return {
    name,
    url: withDatabase(adminUrl, name),
    drop: () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A free TCP port on loopback (for a process that must be told its port before it starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** A logger for tests: silent unless TEST_LOG_LEVEL is set. */
export function testLogger(service = 'test'): Logger {
  return createLogger(service, { level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}

export function randomSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}
