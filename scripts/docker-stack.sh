#!/usr/bin/env bash
# ./init.sh --docker: the NDX stack in containers (docker-compose.yml), detached, waited on until every container
# is healthy, then the same working examples as ./init.sh prints. Options: --reset (remove the containers and the
# database volume first). NDX_OE_REPLICAS=2 runs two Orchestration Engines (each its own audit chain; ports 4000
# and 4001). SEED_CITIZENS as for ./init.sh. Stop with: docker compose -p ndx down (add -v to drop the data).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "docker: $*"; }
die() { echo "docker: $*" >&2; exit 1; }

reset=0
for arg in "$@"; do
  case "$arg" in
    --docker) ;;
    --reset) reset=1 ;;
    *) die "$arg is not an option of ./init.sh --docker (it takes --reset)" ;;
  esac
done
docker info >/dev/null 2>&1 ||
  die "--docker needs a running Docker engine; none answers here. Run ./init.sh without --docker."
# Compose v2 (`docker compose`) where installed, else Debian 12's docker-compose 1.29; both read docker-compose.yml.
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose -p ndx)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose -p ndx)
else
  die "neither 'docker compose' nor 'docker-compose' is installed (Debian: apt-get install docker-compose)"
fi
replicas="${NDX_OE_REPLICAS:-1}"
[[ "$replicas" =~ ^[12]$ ]] || die "NDX_OE_REPLICAS must be 1 or 2 (the OE publishes host ports 4000-4001), got $replicas"

started=$SECONDS
scripts/build-images.sh
node ndx/stack/src/compose-env.ts
if [ "$reset" -eq 1 ]; then
  say "reset: removing the containers and the database volume"
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
fi
say "starting the stack (${compose[*]} up -d --scale orchestration-engine=$replicas)"
phase=$SECONDS
timeout --kill-after=10 "${NDX_UP_TIMEOUT:-1800}" "${compose[@]}" up -d --no-build \
  --scale orchestration-engine="$replicas" 2>&1 | grep -E -i 'error|fail|unhealthy' >&2 || true

# `up -d` returns once the last containers started; wait until every one reports healthy (bounded).
deadline=$((SECONDS + ${NDX_HEALTHY_TIMEOUT:-900}))
while :; do
  mapfile -t ids < <("${compose[@]}" ps -q)
  [ "${#ids[@]}" -gt 0 ] || die "no container started; see: ${compose[*]} logs"
  states="$(docker inspect --format '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "${ids[@]}")"
  waiting="$(awk '$3 != "healthy" { print substr($1, 2) }' <<<"$states")"
  [ -n "$waiting" ] || break
  broken="$(awk '$2 != "running" || $3 == "unhealthy" { print substr($1, 2) }' <<<"$states")"
  if [ -n "$broken" ] || [ "$SECONDS" -ge "$deadline" ]; then
    for name in ${broken:-$waiting}; do
      echo "--- $name (last log lines)" >&2
      docker logs --tail 15 "$name" 2>&1 | cut -c1-300 >&2
    done
    die "not healthy: $(echo ${broken:-$waiting}) (full logs: ${compose[*]} logs)"
  fi
  sleep 2
done
say "every container healthy in $((SECONDS - phase)) s ($((SECONDS - started)) s with the images)"
echo
"${compose[@]}" ps
echo
node ndx/stack/src/compose-env.ts --examples
echo
echo "Logs: ${compose[*]} logs -f orchestration-engine. Audit chains: DATABASE_URL=… bin/ndx audit verify (docs/containers.md)."
echo "Stop: ${compose[*]} down (the data stays in the pgdata volume; add -v to remove it)."
