-- DRP person register, keyed by national identity card number.
CREATE TABLE persons (
  nic text PRIMARY KEY,
  full_name text NOT NULL,
  other_names text,
  permanent_address text NOT NULL,
  profession text,
  sex text NOT NULL CHECK (sex IN ('MALE', 'FEMALE')),
  date_of_birth date NOT NULL
);

CREATE TABLE seed_runs (
  seed text PRIMARY KEY,
  row_count integer NOT NULL,
  completed_at timestamptz NOT NULL DEFAULT now()
);
