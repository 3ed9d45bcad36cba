# One image for every NDX service; the service to run is chosen by the working directory (see docker-compose.yml):
# service-kit's serve.ts starts the service whose folder it runs in.
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY ndx ./ndx
COPY members ./members
COPY tests/package.json ./tests/package.json
COPY fl-config.json ./
RUN npm ci --omit=dev --no-audit --no-fund && chown -R node:node /app
USER node
ENV NODE_ENV=production HOST=0.0.0.0
CMD ["node", "/app/ndx/service-kit/src/serve.ts"]
