import { join } from 'node:path';
import { migrate, type Logger, type MigrationResult, type Pool } from '@ndx/service-kit';
import type { AuditRecord } from './record.ts';

/** The numbered SQL migrations of the audit log (1001 onwards). */
export const auditMigrationsDir = join(import.meta.dirname, '..', 'migrations');

/** Creates or updates the audit tables and triggers; idempotent and safe from several processes. */
export function migrateAudit(pool: Pool, logger?: Logger): Promise<MigrationResult> {
  return migrate(pool, auditMigrationsDir, logger);
}

/** Columns in the order `rowToRecord` reads them. */
export const AUDIT_COLUMNS = `id::text AS id, format_version, occurred_at, trace_id, consumer_id, purpose, citizen_id,
  operation_name, fields_requested, fields_released, fields_withheld, decision_id, policy_version, consent_id,
  providers, timings, outcome, prev_hash, hash, reference, caller_traceparent, end_user, consent_requested,
  chain_id, seq::text AS seq`;

export interface AuditRow {
  id: string;
  format_version: number;
  occurred_at: Date;
  trace_id: string;
  consumer_id: string;
  purpose: string | null;
  citizen_id: string | null;
  operation_name: string | null;
  fields_requested: AuditRecord['fieldsRequested'];
  fields_released: AuditRecord['fieldsReleased'];
  fields_withheld: AuditRecord['fieldsWithheld'];
  decision_id: string | null;
  policy_version: string | null;
  consent_id: string | null;
  providers: AuditRecord['providers'];
  timings: AuditRecord['timings'];
  outcome: AuditRecord['outcome'];
  prev_hash: string;
  hash: string;
  /** Format 2 on (migration 1002); null in format 1 rows. */
  reference: string | null;
  caller_traceparent: string | null;
  end_user: AuditRecord['endUser'];
  consent_requested: string | null;
  /** Migration 1003 on: 'legacy' for format 1 and 2 rows. */
  chain_id: string;
  /** Place in the chain (format 3); null in legacy rows, whose place is their id. */
  seq: string | null;
}

/** A stored row as a record: every member (`computeRecordHash` knows which of them a format hashes), plus hash. */
export function rowToRecord(row: AuditRow): AuditRecord {
  return {
    id: Number(row.id),
    formatVersion: row.format_version,
    chainId: row.chain_id,
    seq: Number(row.seq ?? row.id),
    occurredAt: row.occurred_at.toISOString(),
    reference: row.reference,
    traceId: row.trace_id,
    callerTraceparent: row.caller_traceparent,
    consumerId: row.consumer_id,
    endUser: row.end_user,
    purpose: row.purpose,
    citizenId: row.citizen_id,
    operationName: row.operation_name,
    fieldsRequested: row.fields_requested,
    fieldsReleased: row.fields_released,
    fieldsWithheld: row.fields_withheld,
    decisionId: row.decision_id,
    policyVersion: row.policy_version,
    consentId: row.consent_id,
    consentRequested: row.consent_requested,
    providers: row.providers,
    timings: row.timings,
    outcome: row.outcome,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
