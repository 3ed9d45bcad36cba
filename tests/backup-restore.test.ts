/**
 * `ndx backup` and `ndx restore`, run as an operator would (bin/ndx), on real stacks: a stack with consents
 * and audit records is backed up while it runs, restored into a new data folder, and started again from it.
 * The restored stack holds every consent with its events, an audit trail that verifies, and answers the
 * passport query as before. A damaged backup and a restore over an existing stack are refused.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupManifest } from '@ndx/stack/backup';
import { demoCitizens } from '@ndx/synthetic-data';
import { decideInPortal } from './support/consent-portal.ts';
import { ndxEnvOf, runNdx } from './support/ndx-cli.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';

const amara = demoCitizens.find((c) => c.nic === '199560201234')!;
const PASSPORT_QUERY = `query { personInfo(nic: "${amara.nic}") { name dateOfBirth } }`;

async function passportQuery(
  t: TestStack,
): Promise<{ data?: unknown; errors?: { extensions: Record<string, unknown> }[] }> {
  const token = await t.clientToken('passport-app', 'urn:ndx:api');
  const response = await fetch(`${t.url('orchestration-engine')}/graphql`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'NDX-End-User': `sub=${amara.nic};role=applicant`,
    },
    body: JSON.stringify({ query: PASSPORT_QUERY }),
  });
  return (await response.json()) as { data?: unknown; errors?: { extensions: Record<string, unknown> }[] };
}

/** Every consent with its events, in a stable order: what must survive a backup unchanged. */
async function consentsWithEvents(t: TestStack): Promise<unknown[]> {
  const pool = new pg.Pool({ connectionString: t.databaseUrl('ndx_consent'), max: 1 });
  try {
    const { rows } = await pool.query(
      `SELECT c.id, c.citizen_id, c.consumer_id, c.purpose, c.status, c.fields, c.granted_at, c.expires_at,
              (SELECT json_agg(e ORDER BY e.id) FROM consent_events e WHERE e.consent_id = c.id) AS events
         FROM consents c ORDER BY c.id`,
    );
    return rows;
  } finally {
    await pool.end();
  }
}

/** The environment of a new stack's folder under the scratch folder (restore needs no running stack). */
function freshEnv(name: string): Record<string, string> {
  return {
    NDX_PORT_OFFSET: '0',
    NDX_DATA_DIR: join(scratch, name, 'data'),
    NDX_SECRETS_FILE: join(scratch, name, 'secrets.json'),
  };
}

async function countAuditRows(t: TestStack): Promise<number> {
  const pool = new pg.Pool({ connectionString: t.databaseUrl('ndx_audit'), max: 1 });
  try {
    return Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM audit_log')).rows[0]!.n);
  } finally {
    await pool.end();
  }
}

let scratch: string;
let original: TestStack | undefined;
let restored: TestStack | undefined;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ndx-backup-'));
  // As root PostgreSQL runs as `postgres`, which must be able to enter the restored stack's folders.
  await chmod(scratch, 0o755);
});

afterAll(async () => {
  await original?.stop();
  await restored?.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe('ndx backup and ndx restore', () => {
  it(
    'restore a running stack’s consents, audit trail and answers into a fresh stack',
    { timeout: 600_000 },
    async () => {
      original = await startTestStack({ ownPostgres: true });
      // A consent with its events, and audit records of the asking and of the release.
      const asked = await passportQuery(original);
      const request = asked.errors!.find((e) => e.extensions['code'] === 'CONSENT_REQUIRED')!.extensions;
      const decided = await decideInPortal({
        consentPortalUrl: request['consentPortalUrl'] as string,
        redirectUri: `${original.url('passport-app')}/consent/return`,
        nic: amara.nic,
        password: amara.password,
        decision: 'approve-all',
      });
      expect(decided.status).toBe('ACTIVE');
      const answered = await passportQuery(original);
      expect(answered.errors).toBeUndefined();
      expect(answered.data).toEqual({
        personInfo: { name: amara.birthName, dateOfBirth: amara.dateOfBirth },
      });
      const consentsBefore = await consentsWithEvents(original);
      expect(consentsBefore.length).toBeGreaterThanOrEqual(1);

      const backupDir = join(scratch, 'backup');
      const backup = await runNdx(['backup', backupDir], ndxEnvOf(original));
      expect(backup.stderr).toBe('');
      expect(backup.code).toBe(0);
      expect(backup.stdout).toMatch(/physical backup of \d+ databases \(PostgreSQL \d+/);
      const manifest = JSON.parse(await readFile(join(backupDir, 'manifest.json'), 'utf8')) as BackupManifest;
      expect(manifest.databases).toEqual(
        expect.arrayContaining(['ndx_consent', 'ndx_audit', 'rgd', 'drp', 'ndx_policy']),
      );
      expect(manifest.files.map((f) => f.path)).toEqual(
        expect.arrayContaining(['postgres/backup_label', 'secrets.json']),
      );
      const auditRows = await countAuditRows(original);
      await original.stop();
      original = undefined;

      const fresh = {
        dataDir: join(scratch, 'fresh', 'data'),
        secretsFile: join(scratch, 'fresh', 'secrets.json'),
      };
      const restore = await runNdx(['restore', backupDir], freshEnv('fresh'));
      expect(restore.stderr).toBe('');
      expect(restore.code).toBe(0);
      expect(restore.stdout).toContain('start the stack with ./init.sh');

      restored = await startTestStack(fresh);
      const verify = await runNdx(['audit', 'verify'], ndxEnvOf(restored));
      expect(verify.code).toBe(0);
      expect(verify.stdout).toMatch(/intact/);
      expect(await countAuditRows(restored)).toBeGreaterThanOrEqual(auditRows);
      expect(await consentsWithEvents(restored)).toEqual(consentsBefore);
      expect(await passportQuery(restored)).toEqual(answered);
    },
  );

  it(
    'refuses a damaged backup, and a restore over a stack that already has data',
    { timeout: 120_000 },
    async () => {
      const backupDir = join(scratch, 'backup');
      const secrets = join(backupDir, 'secrets.json');
      const intact = await readFile(secrets, 'utf8');
      await writeFile(secrets, intact.replace(/.$/s, ' \n'));
      const damaged = await runNdx(['restore', backupDir], freshEnv('other'));
      expect(damaged.code).toBe(1);
      expect(damaged.stderr).toContain('is damaged: secrets.json differs from the manifest');
      await writeFile(secrets, intact);

      const over = await runNdx(['restore', backupDir], freshEnv('fresh'));
      expect(over.code).toBe(1);
      expect(over.stderr).toMatch(/a PostgreSQL cluster already lives in .*fresh\/data\/postgres/);
    },
  );
});
