-- A rotated signing key is published (in the JWKS) before it signs anything, so that every verifier has it
-- by the time tokens signed with it arrive. activates_at is when it starts signing.
ALTER TABLE signing_keys ADD COLUMN activates_at timestamptz;
UPDATE signing_keys SET activates_at = created_at;
ALTER TABLE signing_keys ALTER COLUMN activates_at SET NOT NULL, ALTER COLUMN activates_at SET DEFAULT now();
