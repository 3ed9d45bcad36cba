-- Consent records shaped after ISO/IEC TS 27560 (consent record information structure):
-- who (citizen = PII principal), with whom (consumer = PII controller's app), why (purpose code and
-- text, legal basis), what (fields per provider, as displayed), the notice shown, and the lifecycle.
CREATE TABLE consents (
  id uuid PRIMARY KEY,
  citizen_id text NOT NULL,
  consumer_id text NOT NULL,
  purpose text NOT NULL,
  purpose_text text NOT NULL,
  legal_basis text NOT NULL,
  -- [{providerKey, schemaId, field, displayName, description?, granted: boolean|null}]
  fields jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('PENDING', 'ACTIVE', 'REJECTED', 'REVOKED', 'EXPIRED')),
  -- Identifies "the same request" (citizen, consumer, purpose, exact field set) while it is open.
  request_key text NOT NULL,
  notice_version text NOT NULL,
  -- How long the consent lasts once granted.
  duration_seconds integer NOT NULL CHECK (duration_seconds > 0),
  created_at timestamptz NOT NULL,
  decided_at timestamptz,
  granted_at timestamptz,
  -- For PENDING: when the request lapses; for ACTIVE: when the consent ends.
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  updated_at timestamptz NOT NULL
);

-- At most one open (PENDING) request per request key: concurrent identical requests share one record.
CREATE UNIQUE INDEX consents_one_open_request ON consents (request_key) WHERE status = 'PENDING';
CREATE INDEX consents_by_subject ON consents (citizen_id, consumer_id, purpose, status);
CREATE INDEX consents_by_citizen ON consents (citizen_id, created_at DESC);
CREATE INDEX consents_open_by_expiry ON consents (expires_at) WHERE status IN ('PENDING', 'ACTIVE');

-- Every transition: who, when, from, to. Append-only.
CREATE TABLE consent_events (
  id bigserial PRIMARY KEY,
  consent_id uuid NOT NULL REFERENCES consents (id),
  from_status text,
  to_status text NOT NULL,
  actor_type text NOT NULL CHECK (actor_type IN ('citizen', 'service', 'system')),
  actor_id text NOT NULL,
  at timestamptz NOT NULL,
  details jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX consent_events_by_consent ON consent_events (consent_id, id);

CREATE RULE consent_events_no_update AS ON UPDATE TO consent_events DO INSTEAD NOTHING;
CREATE RULE consent_events_no_delete AS ON DELETE TO consent_events DO INSTEAD NOTHING;

-- Portal sessions (server side); the cookie holds a random id, the table its SHA-256.
CREATE TABLE portal_sessions (
  id_hash text PRIMARY KEY,
  citizen_id text,
  csrf_token text NOT NULL,
  -- Sign-in in progress: PKCE verifier, OIDC state and nonce, where to return.
  login jsonb,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_at);

-- The state machine, enforced by the database itself whatever code path updates a row.
CREATE FUNCTION consents_check_transition() RETURNS trigger AS $$
BEGIN
  IF NEW.status = OLD.status THEN
    RETURN NEW;
  END IF;
  IF (OLD.status = 'PENDING' AND NEW.status IN ('ACTIVE', 'REJECTED', 'EXPIRED'))
     OR (OLD.status = 'ACTIVE' AND NEW.status IN ('REVOKED', 'EXPIRED')) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'consent % may not go from % to %', OLD.id, OLD.status, NEW.status
    USING ERRCODE = 'check_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consents_transition BEFORE UPDATE OF status ON consents
  FOR EACH ROW EXECUTE FUNCTION consents_check_transition();
