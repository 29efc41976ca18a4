# Multi-stage build: compile TypeScript with dev dependencies, ship only the runtime ones, run as a non-root user.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY proxy ./proxy
COPY functions ./functions
COPY test ./test
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
# The admin server stays inside the container, where the health check reaches it; to publish it (the dashboard,
# /metrics) set PG_LLM_ADMIN=0.0.0.0:6544 with PG_LLM_ADMIN_TOKEN, without which the proxy refuses to start.
ENV NODE_ENV=production \
    PG_LLM_LISTEN=0.0.0.0:6543 \
    PG_LLM_ADMIN=127.0.0.1:6544 \
    PG_LLM_EMBEDDED_DATA=/data/embedded
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY catalog-migrations ./catalog-migrations
COPY src/admin/page ./src/admin/page
COPY scripts/docker-entrypoint.sh ./scripts/
RUN useradd --system --uid 10001 --create-home --home-dir /home/proxy proxy \
    && mkdir -p /data && chown proxy /data
USER proxy
VOLUME ["/data"]
EXPOSE 6543 6544
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:6544/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Names the upstream or the embedded server before it starts: see scripts/docker-entrypoint.sh.
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
