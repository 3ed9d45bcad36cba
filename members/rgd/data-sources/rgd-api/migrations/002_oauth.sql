-- RGD's own OAuth2 authorisation server: registered clients (secrets kept only as scrypt hashes)
-- and the key that signs access tokens (generated on first start, kept so tokens survive restarts).
CREATE TABLE oauth_clients (
  client_id text PRIMARY KEY,
  secret_hash text NOT NULL,
  scopes text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  private_jwk jsonb NOT NULL,
  public_jwk jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
