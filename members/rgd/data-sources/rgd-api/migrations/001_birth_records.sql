-- RGD birth register. One row per registered birth; `nic` is the person's national identity card number.
CREATE TABLE birth_records (
  birth_registration_number text PRIMARY KEY,
  nic text NOT NULL UNIQUE,
  full_name text NOT NULL,
  date_of_birth date NOT NULL,
  birth_place text NOT NULL,
  district text NOT NULL,
  division text NOT NULL,
  sex text NOT NULL CHECK (sex IN ('MALE', 'FEMALE')),
  father_name text,
  father_nic text,
  mother_name text,
  mother_nic text,
  registered_on date NOT NULL
);

-- Which seed produced the data, so seeding happens once.
CREATE TABLE seed_runs (
  seed text PRIMARY KEY,
  row_count integer NOT NULL,
  completed_at timestamptz NOT NULL DEFAULT now()
);
