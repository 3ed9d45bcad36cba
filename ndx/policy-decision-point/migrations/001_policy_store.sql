-- The PDP's policy store. A policy version is an immutable snapshot of everything a decision
-- depends on: the Cedar policies, the field metadata, the consumers and their grants.
-- Every change copies the base version into a new one (who, when, why); one version is active.

CREATE TABLE policy_versions (
  version integer PRIMARY KEY CHECK (version > 0),
  based_on integer REFERENCES policy_versions (version),
  cedar_policies text NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  reason text NOT NULL,
  change text NOT NULL
);

CREATE TABLE field_metadata (
  version integer NOT NULL REFERENCES policy_versions (version),
  provider_key text NOT NULL,
  schema_id text NOT NULL,
  field text NOT NULL,
  display_name text NOT NULL,
  description text NOT NULL,
  classification text NOT NULL CHECK (classification IN ('public', 'internal', 'confidential', 'restricted')),
  owner text NOT NULL,
  consent_required boolean NOT NULL,
  PRIMARY KEY (version, provider_key, schema_id, field)
);

CREATE TABLE consumers (
  version integer NOT NULL REFERENCES policy_versions (version),
  consumer_id text NOT NULL,
  display_name text NOT NULL,
  member text NOT NULL,
  purposes text[] NOT NULL,
  PRIMARY KEY (version, consumer_id)
);

CREATE TABLE consumer_grants (
  version integer NOT NULL REFERENCES policy_versions (version),
  consumer_id text NOT NULL,
  purpose text NOT NULL,
  fields jsonb NOT NULL,
  legal_basis text NOT NULL,
  expires_at timestamptz,
  window_start smallint CHECK (window_start BETWEEN 0 AND 1439),
  window_end smallint CHECK (window_end BETWEEN 0 AND 1440),
  CHECK ((window_start IS NULL) = (window_end IS NULL)),
  PRIMARY KEY (version, consumer_id, purpose),
  FOREIGN KEY (version, consumer_id) REFERENCES consumers (version, consumer_id)
);

-- Exactly one row: the active version. Activation locks this row, so activations are serialised.
CREATE TABLE policy_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  active_version integer REFERENCES policy_versions (version),
  activated_at timestamptz,
  activated_by text
);
INSERT INTO policy_state (singleton) VALUES (true);

CREATE TABLE policy_activations (
  id bigserial PRIMARY KEY,
  version integer NOT NULL REFERENCES policy_versions (version),
  previous_version integer REFERENCES policy_versions (version),
  kind text NOT NULL CHECK (kind IN ('activate', 'rollback', 'seed')),
  activated_by text NOT NULL,
  activated_at timestamptz NOT NULL DEFAULT now(),
  reason text NOT NULL
);
