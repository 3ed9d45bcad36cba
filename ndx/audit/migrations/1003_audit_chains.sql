-- Audit record format 3 (issue 12): one hash chain per writer (per OE instance), so several OE replicas
-- append at full speed without taking turns on one head row.
--
-- History is not rewritten: every existing row keeps its content and its hash. Rows written before this
-- migration (formats 1 and 2) form the chain 'legacy', ordered by id as before; its head stays in
-- audit_chain_head, which is now sealed (no writer appends to it any more; an old writer that still tries
-- is refused and fails closed instead of forking the log).
--
--   chain_id   which chain the record belongs to ('legacy' for formats 1 and 2)
--   seq        the record's position in its chain: 1, 2, 3, ... without gaps (NULL in 'legacy' rows,
--              whose position is their id). Hashed from format 3 on, with chain_id.
--   id         from now on only the log's global key and the access log's cursor, assigned from a
--              sequence at insert; not hashed in format 3 (verify checks that it grows along each chain).

-- A fast default: existing rows read 'legacy' without the table being rewritten; new rows must name
-- their chain (the default is dropped again at once).
ALTER TABLE audit_log ADD COLUMN chain_id text NOT NULL DEFAULT 'legacy';
ALTER TABLE audit_log ALTER COLUMN chain_id DROP DEFAULT;
ALTER TABLE audit_log ADD COLUMN seq bigint;

-- NOT VALID: checked for every new row, without a scan of the rows that were written by format 1 and 2
-- writers (which satisfy it by construction).
ALTER TABLE audit_log ADD CONSTRAINT audit_log_chain_by_format CHECK (
  (format_version <= 2 AND chain_id = 'legacy' AND seq IS NULL)
  OR (format_version >= 3 AND chain_id <> 'legacy' AND chain_id ~ '^[a-z0-9][a-z0-9._-]{0,63}$' AND seq > 0)
) NOT VALID;

-- One record per position of a chain: a second writer that appends after a stale head collides here
-- (a backstop to the compare-and-set on audit_chains). Verify walks each chain through this index.
CREATE UNIQUE INDEX audit_log_chain_seq_idx ON audit_log (chain_id, seq) WHERE seq IS NOT NULL;

-- id is assigned by the database from now on, after every id the legacy chain used.
CREATE SEQUENCE audit_log_id_seq AS bigint MINVALUE 1 OWNED BY audit_log.id;
SELECT setval('audit_log_id_seq',
  GREATEST(1, (SELECT last_id FROM audit_chain_head), (SELECT coalesce(max(id), 0) FROM audit_log)),
  GREATEST((SELECT last_id FROM audit_chain_head), (SELECT coalesce(max(id), 0) FROM audit_log)) > 0);
ALTER TABLE audit_log ALTER COLUMN id SET DEFAULT nextval('audit_log_id_seq');

-- The legacy chain is closed: its head no longer moves.
CREATE FUNCTION audit_chain_head_sealed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the legacy audit chain is sealed (migration 1003): records are appended to per-writer chains'
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_chain_head_sealed
  BEFORE UPDATE ON audit_chain_head
  FOR EACH ROW EXECUTE FUNCTION audit_chain_head_sealed();

-- The head of every per-writer chain: its last position and that record's hash. A writer keeps its
-- head in memory and moves it with a compare-and-set (audit_chain_advance) in the statement that
-- inserts the batch.
CREATE TABLE audit_chains (
  chain_id text PRIMARY KEY CHECK (chain_id <> 'legacy' AND chain_id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
  last_seq bigint NOT NULL CHECK (last_seq >= 0),
  last_hash text NOT NULL CHECK (last_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A chain starts empty, only moves forward, and is never deleted.
CREATE FUNCTION audit_chains_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.last_seq <> 0 OR NEW.last_hash <> repeat('0', 64) THEN
      RAISE EXCEPTION 'a new audit chain starts empty' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  IF TG_OP <> 'UPDATE' THEN
    RAISE EXCEPTION 'audit_chains: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.chain_id <> OLD.chain_id OR NEW.last_seq <= OLD.last_seq THEN
    RAISE EXCEPTION 'audit chain % may only move forward (from % to %)', OLD.chain_id, OLD.last_seq, NEW.last_seq
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER audit_chains_guard_write
  BEFORE INSERT OR UPDATE OR DELETE ON audit_chains
  FOR EACH ROW EXECUTE FUNCTION audit_chains_guard();
CREATE TRIGGER audit_chains_no_truncate
  BEFORE TRUNCATE ON audit_chains
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_reject_change();

-- At commit, a moved head must name a record of its chain that exists with that hash (the batch's
-- rows are inserted by the same statement, so this can only be checked at the end of the transaction).
CREATE FUNCTION audit_chains_points_at_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_log WHERE chain_id = NEW.chain_id AND seq = NEW.last_seq AND hash = NEW.last_hash) THEN
    RAISE EXCEPTION 'audit chain % head must point at an existing record (seq %)', NEW.chain_id, NEW.last_seq
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER audit_chains_head_exists
  AFTER UPDATE ON audit_chains DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION audit_chains_points_at_record();

-- The compare-and-set: moves the head of a chain from (expected_seq, expected_hash) to (new_seq,
-- new_hash), or raises 'audit chain head moved' (SQLSTATE 40001) when another writer moved it first,
-- which rolls back the whole statement, the batch's rows included.
CREATE FUNCTION audit_chain_advance(p_chain text, p_expected_seq bigint, p_expected_hash text,
  p_new_seq bigint, p_new_hash text, p_inserted bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  IF p_inserted <> p_new_seq - p_expected_seq THEN
    RAISE EXCEPTION 'audit batch for chain % inserted % rows, expected %', p_chain, p_inserted, p_new_seq - p_expected_seq;
  END IF;
  UPDATE audit_chains SET last_seq = p_new_seq, last_hash = p_new_hash
    WHERE chain_id = p_chain AND last_seq = p_expected_seq AND last_hash = p_expected_hash;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'audit chain head moved: % is no longer at %', p_chain, p_expected_seq
      USING ERRCODE = 'serialization_failure';
  END IF;
  RETURN p_new_seq;
END;
$$;

-- The citizen's access log (newest first) and export (oldest first) read one citizen's records in order
-- of id. They order by -id, which only this index gives in order: the primary key (id) cannot, so the
-- planner can no longer walk it backwards filtering every row by citizen (which its estimates favour for
-- a citizen in many records, and which reads millions of rows when that citizen's records are all old).
-- A page is then a range scan of p entries here, however large the log. It replaces
-- audit_log_citizen_idx (citizen_id, id DESC), which the planner could pass over for the primary key.
-- Built in this migration's transaction: on a large log, writes wait until it is built.
CREATE INDEX audit_log_citizen_page_idx ON audit_log (citizen_id, (-id)) WHERE citizen_id IS NOT NULL;
DROP INDEX audit_log_citizen_idx;
