import type { Pool } from '@ndx/service-kit';

/**
 * For tests: what an attacker with superuser rights does to the log: switch the append-only trigger off,
 * run sql, switch it back on, in one transaction. `verifyChain` must find the damage afterwards.
 */
export async function asSuperuserWithoutTrigger(
  admin: Pool,
  sql: string,
  values: unknown[] = [],
): Promise<void> {
  const client = await admin.connect();
  try {
    await client.query('BEGIN');
    await client.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete');
    await client.query(sql, values);
    await client.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete');
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
