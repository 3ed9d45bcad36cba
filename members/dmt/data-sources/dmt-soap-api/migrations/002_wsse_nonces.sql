-- WS-Security UsernameToken nonces seen, each kept until a message carrying it would be refused as
-- stale anyway (wsu:Created + the accepted age); shared by every instance of the service, so a
-- replay to another instance is refused too. Rows past expires_at are pruned.
CREATE TABLE wsse_nonces (
  nonce text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
CREATE INDEX wsse_nonces_expires_at_idx ON wsse_nonces (expires_at);
