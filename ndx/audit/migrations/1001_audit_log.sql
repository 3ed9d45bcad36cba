-- The audit log of the Orchestration Engine (database ndx_audit), owned by @ndx/audit.
-- Numbered from 1001 so that these migrations can share ndx_schema_migrations with the
-- owning service's own migrations (numbered from 001) in the same database.

-- One row per request. id is assigned by the writer from audit_chain_head inside the
-- transaction that appends the row, so ids are gapless and equal the chain order.
-- hash = SHA-256 of the canonical serialisation of every column below except hash itself.
CREATE TABLE audit_log (
  id bigint PRIMARY KEY CHECK (id > 0),
  format_version smallint NOT NULL,
  occurred_at timestamptz NOT NULL,
  trace_id text NOT NULL,
  consumer_id text NOT NULL,
  purpose text,
  citizen_id text,
  operation_name text,
  fields_requested jsonb NOT NULL,
  fields_released jsonb NOT NULL,
  fields_withheld jsonb NOT NULL,
  decision_id text,
  policy_version text,
  consent_id text,
  providers jsonb NOT NULL,
  timings jsonb NOT NULL,
  outcome text NOT NULL,
  prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
);

-- The citizen's access log and export read by citizen, newest first (keyset on id).
CREATE INDEX audit_log_citizen_idx ON audit_log (citizen_id, id DESC) WHERE citizen_id IS NOT NULL;

-- The end of the chain: one row, locked FOR UPDATE by every appending transaction, which
-- serialises appenders across processes and gives the next id and prev_hash.
CREATE TABLE audit_chain_head (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_id bigint NOT NULL,
  last_hash text NOT NULL CHECK (last_hash ~ '^[0-9a-f]{64}$')
);
INSERT INTO audit_chain_head (singleton, last_id, last_hash) VALUES (true, 0, repeat('0', 64));

-- Append-only: no UPDATE, DELETE or TRUNCATE of audit rows, for any role, while the
-- triggers are enabled. A superuser (or the table owner) can disable them; verify then
-- detects the edit through the hash chain.
CREATE FUNCTION audit_log_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'audit records can only be appended';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_reject_change();

CREATE TRIGGER audit_log_no_truncate
  BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_reject_change();

-- The head only moves forward, to a row that exists with that hash; it is never deleted.
CREATE FUNCTION audit_chain_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' THEN
    RAISE EXCEPTION 'audit_chain_head: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.last_id <= OLD.last_id THEN
    RAISE EXCEPTION 'audit_chain_head may only move forward (from % to %)', OLD.last_id, NEW.last_id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.last_id AND hash = NEW.last_hash) THEN
    RAISE EXCEPTION 'audit_chain_head must point at an existing record (id %)', NEW.last_id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER audit_chain_head_guard_update
  BEFORE UPDATE ON audit_chain_head
  FOR EACH ROW EXECUTE FUNCTION audit_chain_head_guard();

CREATE TRIGGER audit_chain_head_guard_delete
  BEFORE DELETE ON audit_chain_head
  FOR EACH ROW EXECUTE FUNCTION audit_chain_head_guard();

CREATE TRIGGER audit_chain_head_no_truncate
  BEFORE TRUNCATE ON audit_chain_head
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_reject_change();
