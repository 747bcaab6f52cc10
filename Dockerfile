# syntax=docker/dockerfile:1
# One image for every entrypoint: `node src/main.ts operator|provisioner|recorder|verify`. TypeScript runs directly
# (Node 24 strips types), so there is no build step: the image is the production dependencies plus src/ and crds/.
# Pin the base by digest in your registry mirror (NODE_IMAGE=node:24-bookworm-slim@sha256:...) for reproducible builds.
ARG NODE_IMAGE=node:24-bookworm-slim

# Production dependencies only. The `node` devDependency (Node 24 for developers' machines) is a dev dependency, so it
# is not installed here: the base image already is Node 24. No package has to run an install script.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
# Source maps, type declarations and docs are never loaded at run time: ~12 MB of the production dependencies.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
      -o -iname '*.md' \) -delete

FROM ${NODE_IMAGE} AS runtime
ARG VERSION=dev
LABEL org.opencontainers.image.title="warroom" \
      org.opencontainers.image.description="Kubernetes operator for isolated, disposable Matrix war rooms" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
# The operator needs node and nothing else from the base: drop the package managers, so a compromised process finds
# no npm/npx/corepack to fetch and run code with.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
WORKDIR /app
ENV NODE_ENV=production
# Owned by root and not writable by the runtime user: the process cannot modify its own code.
COPY --from=deps --chown=0:0 /app/node_modules ./node_modules
COPY --chown=0:0 package.json ./
COPY --chown=0:0 src ./src
COPY --chown=0:0 crds ./crds
# Numeric, so Kubernetes can check runAsNonRoot without a passwd entry (65532 is the conventional "nonroot").
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "src/main.ts"]
CMD ["operator"]
