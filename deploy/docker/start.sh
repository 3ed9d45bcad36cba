#!/bin/sh
# The NDX image's command: runs the service's prepare script first when it has one (seeding, as ./init.sh
# does before starting it; idempotent), then the service in the working directory (service-kit's serve.ts).
set -eu
if [ -n "${NDX_PREPARE_SCRIPT:-}" ]; then
  node "$NDX_PREPARE_SCRIPT"
fi
exec node /app/ndx/service-kit/src/serve.ts
