#!/usr/bin/env bash
# The one test command: installs what the tests need, then type-checks, lints and runs every test
# (unit, integration with a real embedded PostgreSQL, end-to-end, browser, and the stack in containers where a
# Docker engine answers: tests/containers.test.ts, which builds the images it needs) once.
set -euo pipefail
cd "$(dirname "$0")"

source scripts/use-node.sh

# The containers test's images (about 5 minutes the first time on a machine, from Debian's packages) build in the
# background while the rest installs, type-checks, lints and tests; the test waits for this build, then reuses it.
if docker info >/dev/null 2>&1; then
  mkdir -p test-artifacts
  echo "test: a Docker engine answers: tests/containers.test.ts runs the stack in containers; building its images in the background (log: test-artifacts/images-build.log)"
  setsid scripts/build-images.sh >test-artifacts/images-build.log 2>&1 &
  export NDX_IMAGES_BUILD_PID=$!
  trap 'kill -- "-$NDX_IMAGES_BUILD_PID" 2>/dev/null || true' EXIT
else
  echo "test: NO Docker engine answers: tests/containers.test.ts will be SKIPPED (.ci/run installs and starts one)" >&2
fi

# Debian's Chromium for the browser tests (never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test: installing Debian's chromium for the browser tests"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "test: the browser tests need Debian's chromium: sudo apt-get install -y chromium" >&2
    exit 1
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "test: installing dependencies (npm ci)"
  # Packages already in npm's cache are not asked for again (a fresh clone on a machine that installed before).
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error
fi

# The three checks side by side (each mostly one core); a failing one's output is shown.
echo "test: type-check, lint and format"
mkdir -p test-artifacts
checks_failed=0
check() {
  local name=$1
  shift
  "$@" >"test-artifacts/$name.log" 2>&1 || { echo "test: $name failed:" >&2; cat "test-artifacts/$name.log" >&2; return 1; }
}
check type-check npx tsc -p tsconfig.json --noEmit &
typecheck_pid=$!
check lint npx eslint --max-warnings=0 . &
lint_pid=$!
check format npx prettier --check . &
format_pid=$!
for pid in "$typecheck_pid" "$lint_pid" "$format_pid"; do wait "$pid" || checks_failed=1; done
[ "$checks_failed" -eq 0 ] || exit 1
echo "test: unit, integration, end-to-end and browser tests"
# V8's code cache on disk for the test workers and the stacks they start (the launcher uses the same folder).
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-$PWD/node_modules/.cache/ndx-node-compile}"
npx vitest run "$@"
