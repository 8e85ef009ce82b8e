# syntax=docker/dockerfile:1
#
# Runtime image for recc clusters on EKS: the scheduler and worker pods run
# `recc scheduler …` and `recc worker …` (see adapters/eks/manifests/build.ts;
# the pod spec sets `command: ["recc"]`). The TypeScript sources run directly
# through tsx (a production dependency), exactly as `npx recc` does locally,
# so there is no separate build step to drift from what the tests ran.
#
# Build:  docker build -t <registry>/recc:<version> .
# Check:  test/unit/eks/dockerfile.test.ts parses this file and checks that
#         every command the pods run exists in the CLI.

FROM node:20-slim AS deps
WORKDIR /opt/recc
COPY package.json package-lock.json ./
# Production dependencies only; npm 11 skips dependency install scripts.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM node:20-slim
ENV NODE_ENV=production \
    RECC_HOME=/opt/recc
WORKDIR /opt/recc
# python3 runs command tasks; tini reaps children and forwards SIGTERM so pods stop cleanly.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=deps /opt/recc/node_modules ./node_modules
# Sources (tests, benchmarks and local state are excluded by .dockerignore).
COPY --chown=root:root . .
RUN chmod 0755 bin/recc.mjs && ln -s /opt/recc/bin/recc.mjs /usr/local/bin/recc
# The `node` user (uid 1000) matches runAsUser in the pod security context.
USER node
EXPOSE 8786 8787
ENTRYPOINT ["tini", "--", "recc"]
CMD ["--help"]
