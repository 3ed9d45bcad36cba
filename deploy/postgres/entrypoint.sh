#!/usr/bin/env bash
# The compose PostgreSQL's entrypoint, the same for the official postgres image and for ndx-base/postgres
# (Debian's PostgreSQL, built by scripts/build-base-images.sh, which has no docker-entrypoint-initdb.d).
# Runs as the postgres user. On first start (empty PGDATA): initdb with the superuser password from
# POSTGRES_PASSWORD, password authentication for every network client, then provision.sh (one database and
# owning role per service) on a server that listens on no TCP port yet. Then runs PostgreSQL in the foreground.
set -euo pipefail
die() { echo "postgres-entrypoint: $*" >&2; exit 1; }

[ "$(id -u)" -ne 0 ] || die "run as the postgres user (docker-compose.yml sets user: postgres)"
# Debian keeps the server binaries off PATH; the official image puts them on it.
for dir in /usr/lib/postgresql/*/bin; do [ -x "$dir/initdb" ] && PATH="$PATH:$dir"; done
command -v initdb >/dev/null || die "no initdb in this image: is it a PostgreSQL image?"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  [ -n "${POSTGRES_PASSWORD:-}" ] || die "POSTGRES_PASSWORD is not set: write .secrets/compose/ with 'node ndx/stack/src/compose-env.ts' (./init.sh --docker does)"
  [ -n "${NDX_DATABASES:-}" ] || die "NDX_DATABASES is not set (it comes from .secrets/compose/postgres.env)"
  echo "postgres-entrypoint: initialising $PGDATA"
  pwfile="$(mktemp)"
  printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username=postgres --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
  pg_ctl --wait --timeout=60 --silent -o "-c listen_addresses=''" start
  "$(dirname "$0")/provision.sh"
  pg_ctl --wait --timeout=60 --silent -m fast stop
  echo "postgres-entrypoint: provisioned one database and owning role per service"
fi
exec postgres -c listen_addresses='*' "$@"
