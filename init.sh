#!/usr/bin/env bash
# Starts the whole NDX stack on this machine. ./init.sh --help for options.
set -euo pipefail
cd "$(dirname "$0")"

for arg in "$@"; do
  case "$arg" in
    --docker)
      source scripts/use-node.sh
      [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
      exec scripts/docker-stack.sh "$@"
      ;;
  esac
done

source scripts/use-node.sh

# Install dependencies when missing or when the lockfile changed since the last install.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "init: installing dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

exec node ndx/stack/src/cli.ts "$@"
