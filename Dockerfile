# One image for every NDX service; the service to run is chosen by the working directory (see docker-compose.yml):
# service-kit's serve.ts starts the service whose folder it runs in, after the service's prepare script (seeding)
# when NDX_PREPARE_SCRIPT names one (deploy/docker/start.sh).
#
# NODE_BASE is any Debian-based image with Node.js 24 and npm and a `node` user: the official one where a
# registry can be reached, or ndx-base/node:24-bookworm built from Debian's packages by
# scripts/build-base-images.sh where none can (scripts/build-images.sh chooses). See docs/containers.md.
ARG NODE_BASE=node:24-bookworm-slim

# Only the package manifests, so the dependency layer below is rebuilt only when one of them changes.
FROM ${NODE_BASE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir /manifests && cp package-lock.json /manifests/ \
 && find . -name package.json -not -path '*/node_modules/*' -exec cp --parents {} /manifests/ \;

FROM ${NODE_BASE}
WORKDIR /app
COPY --from=manifests /manifests/ ./
# Production dependencies only (no dev, no optional: the embedded PostgreSQL binaries stay out); no install
# scripts run, none of the production dependencies needs one.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error \
 && npm cache clean --force >/dev/null 2>&1 && rm -rf /root/.npm /tmp/*
COPY fl-config.json ./
COPY deploy/docker/start.sh ./deploy/docker/start.sh
COPY ndx ./ndx
COPY members ./members
USER node
ENV NODE_ENV=production HOST=0.0.0.0
# Ready means the service answers /ready (its database and dependencies reachable); PORT is the service's own.
# The probe is bash alone (an HTTP/1.0 GET over /dev/tcp): a `node -e fetch(...)` probe costs a Node.js start
# per check per container and timed out on a loaded two-core machine. The long start period covers first-start
# seeding (100,000 citizens by default).
HEALTHCHECK --interval=5s --timeout=10s --start-period=15m --retries=5 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf 'GET /ready HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && IFS= read -r status <&3 && [[ $status == *' 200 '* ]]"]
CMD ["/app/deploy/docker/start.sh"]
