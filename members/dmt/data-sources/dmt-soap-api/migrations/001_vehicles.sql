-- DMT vehicle register. Vehicle classes are public reference data (the licence class catalogue).
CREATE TABLE vehicle_classes (
  class_code text PRIMARY KEY,
  class_name text NOT NULL
);

CREATE TABLE vehicles (
  registration_number text PRIMARY KEY,
  make text NOT NULL,
  model text NOT NULL,
  year_of_manufacture integer NOT NULL CHECK (year_of_manufacture BETWEEN 1900 AND 2100),
  owner_nic text NOT NULL
);
CREATE INDEX vehicles_owner_nic_idx ON vehicles (owner_nic);

CREATE TABLE vehicle_class_assignments (
  registration_number text NOT NULL REFERENCES vehicles (registration_number) ON DELETE CASCADE,
  class_code text NOT NULL REFERENCES vehicle_classes (class_code),
  PRIMARY KEY (registration_number, class_code)
);

CREATE TABLE seed_runs (
  seed text PRIMARY KEY,
  row_count integer NOT NULL,
  completed_at timestamptz NOT NULL DEFAULT now()
);
