#!/usr/bin/env bash
# Builds the images docker-compose.yml runs, choosing the base images once:
#   - NDX_NODE_BASE / NDX_POSTGRES_BASE when set;
#   - else the official node:24-bookworm-slim and postgres:16 when present or pullable (bounded);
#   - else local equivalents built from Debian's packages (scripts/build-base-images.sh; reused when present).
# Then tags ndx-postgres:local from the PostgreSQL base and builds ndx:local (the one image of every NDX service;
# its dependency layer is reused until a package.json or the lockfile changes). Prints each phase's time.
# Needs a running Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "images: $*"; }
die() { echo "images: $*" >&2; exit 1; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
usable() { have_image "$1" || timeout --kill-after=5 "${NDX_PULL_TIMEOUT:-120}" docker pull -q "$1" >/dev/null 2>&1; }

docker info >/dev/null 2>&1 || die "no Docker engine answers"
started=$SECONDS
node_base="${NDX_NODE_BASE:-}"
postgres_base="${NDX_POSTGRES_BASE:-}"
if [ -z "$node_base" ] || [ -z "$postgres_base" ]; then
  if have_image ndx-base/node:24-bookworm && have_image ndx-base/postgres:15-bookworm; then
    node_base="${node_base:-ndx-base/node:24-bookworm}"
    postgres_base="${postgres_base:-ndx-base/postgres:15-bookworm}"
  elif usable node:24-bookworm-slim && usable postgres:16; then
    node_base="${node_base:-node:24-bookworm-slim}"
    postgres_base="${postgres_base:-postgres:16}"
  else
    say "no image registry answers: building base images from Debian's packages"
    scripts/build-base-images.sh
    node_base="${node_base:-ndx-base/node:24-bookworm}"
    postgres_base="${postgres_base:-ndx-base/postgres:15-bookworm}"
  fi
fi
have_image "$node_base" || die "base image $node_base is not here (NDX_NODE_BASE)"
have_image "$postgres_base" || die "base image $postgres_base is not here (NDX_POSTGRES_BASE)"
say "bases ready in $((SECONDS - started)) s: NODE_BASE=$node_base, PostgreSQL $postgres_base"

docker tag "$postgres_base" ndx-postgres:local
phase=$SECONDS
# The legacy builder's deprecation notice is the only thing it prints besides errors with -q.
timeout --kill-after=10 "${NDX_BUILD_TIMEOUT:-1200}" docker build -q --build-arg NODE_BASE="$node_base" \
  -t "${NDX_IMAGE:-ndx:local}" . 2> >(grep -v -E 'DEPRECATED|legacy builder|buildx|docs.docker.com/go/buildx|^\s*$' >&2) >/dev/null ||
  die "building ${NDX_IMAGE:-ndx:local} failed"
say "built ${NDX_IMAGE:-ndx:local} in $((SECONDS - phase)) s; all images ready in $((SECONDS - started)) s"
