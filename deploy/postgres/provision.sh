#!/usr/bin/env bash
# Run once by entrypoint.sh on the postgres container's first start: one database and owning role per service.
# NDX_DATABASES is "db:password,db:password,…" (generated into .secrets/compose/postgres.env).
set -euo pipefail
IFS=',' read -ra entries <<<"${NDX_DATABASES:?}"
for entry in "${entries[@]}"; do
  db="${entry%%:*}"
  password="${entry#*:}"
  psql -v ON_ERROR_STOP=1 --username postgres <<SQL
CREATE ROLE ${db}_owner LOGIN PASSWORD '${password}';
CREATE DATABASE ${db} OWNER ${db}_owner;
SQL
done
