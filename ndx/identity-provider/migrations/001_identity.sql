-- FUDI identity provider: oidc-provider state, citizens, clients, signing keys, sign-in throttling.

-- Everything oidc-provider persists (sessions, grants, interactions, codes, refresh and opaque access
-- tokens, replay detection ...), one row per model instance.
CREATE TABLE oidc_payloads (
  model text NOT NULL,
  id text NOT NULL,
  payload jsonb NOT NULL,
  grant_id text,
  user_code text,
  uid text,
  expires_at timestamptz,
  consumed_at timestamptz,
  PRIMARY KEY (model, id)
);
CREATE INDEX oidc_payloads_grant_id ON oidc_payloads (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oidc_payloads_uid ON oidc_payloads (model, uid) WHERE uid IS NOT NULL;
CREATE INDEX oidc_payloads_user_code ON oidc_payloads (model, user_code) WHERE user_code IS NOT NULL;
CREATE INDEX oidc_payloads_expires_at ON oidc_payloads (expires_at) WHERE expires_at IS NOT NULL;

-- Citizen accounts; the NIC is the OIDC subject.
CREATE TABLE citizens (
  nic text PRIMARY KEY,
  name text NOT NULL,
  password_hash text NOT NULL,
  totp_secret text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Registered OAuth clients (oidc-provider client metadata). Clients from configuration are rewritten
-- on every start (source = 'config'); operators add others with the CLI (source = 'operator').
CREATE TABLE clients (
  client_id text PRIMARY KEY,
  metadata jsonb NOT NULL,
  source text NOT NULL CHECK (source IN ('config', 'operator')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Signing keys (private JWKs). The newest active key signs; retired keys stay published in the JWKS
-- until every token they signed has expired (retired_at + the longest token lifetime).
CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  private_jwk jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);

-- Failed sign-in attempts, for lock-out per NIC and throttling per client address.
CREATE TABLE login_failures (
  id bigserial PRIMARY KEY,
  nic text NOT NULL,
  address text NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_nic ON login_failures (nic, at);
CREATE INDEX login_failures_address ON login_failures (address, at);
