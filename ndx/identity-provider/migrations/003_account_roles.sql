-- Roles of an account (e.g. `die-officer`), released in the `roles` claim to clients that ask for the
-- `roles` scope. Empty for citizens: a role is given to an account on purpose (seeding or the CLI).
ALTER TABLE citizens ADD COLUMN roles text[] NOT NULL DEFAULT '{}';
ALTER TABLE citizens ADD CONSTRAINT citizens_role_names
  CHECK (array_position(roles, NULL) IS NULL AND cardinality(roles) <= 16
         AND array_to_string(roles, ',') ~ '^([a-z][a-z0-9-]{0,62}(,[a-z][a-z0-9-]{0,62})*)?$');
