-- Browser sessions of the passport app. The cookie holds a random id; only its SHA-256 is stored.
CREATE TABLE sessions (
  id_hash text PRIMARY KEY,
  csrf_token text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Passport applications. `form` holds the values the officer submits (with where each came from);
-- `sources` holds what NDX answered (per field: value, agency, status) and the consent decisions.
CREATE TABLE applications (
  id uuid PRIMARY KEY,
  -- The session that started the application; only that session may see or change it.
  owner_session_hash text NOT NULL,
  nic text NOT NULL CHECK (nic ~ '^([0-9]{9}[VX]|[0-9]{12})$'),
  status text NOT NULL CHECK (status IN ('DRAFT', 'SUBMITTED')),
  form jsonb NOT NULL DEFAULT '{}'::jsonb,
  sources jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  submitted_at timestamptz,
  CHECK ((status = 'SUBMITTED') = (submitted_at IS NOT NULL))
);
CREATE INDEX applications_by_owner ON applications (owner_session_hash, created_at DESC);
CREATE INDEX applications_by_nic ON applications (nic);

-- OAuth-style `state` values handed to the consent portal: random, bound to one session and one
-- application, single-use (used_at is set atomically on redemption), short-lived.
CREATE TABLE consent_states (
  state_hash text PRIMARY KEY,
  session_hash text NOT NULL,
  application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
  consent_id text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX consent_states_by_expiry ON consent_states (expires_at);
