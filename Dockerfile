# syntax=docker/dockerfile:1
# One image for every entrypoint: `node dist/main.js operator|provisioner|recorder|rtc-authoriser|verify`. dist/ is
# src/ with its types stripped at build time by Node's own stripper (hack/build-dist.ts; same lines and columns, so
# stack traces point at src/), not at run time: that would cost every process ~19 MiB of RSS for Node's TypeScript
# stripper. The image is the production dependencies plus dist/ and crds/.
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

# Types stripped once here: nothing to install, the base image's Node does it.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json ./
COPY hack/build-dist.ts ./hack/
COPY src ./src
RUN node --disable-warning=ExperimentalWarning hack/build-dist.ts src dist

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
# Memory, measured by `npm run bench -- operator-memory` (which runs the operator with these same settings):
# - V8 grows its young generation up to 64 MiB per semi-space under allocation bursts (a relist, 200 channels
#   applied at once) and keeps it: 128 MiB of RSS for objects that live microseconds. 4 MiB semi-spaces bound it to
#   8 MiB for a few % more CPU in scavenges. This is not a heap cap: the old generation still grows as needed.
# - glibc gives each thread that mallocs (V8's GC and compiler threads, libuv's pool) an arena of its own, up to
#   8 per core, and freed memory stays in them: two arenas are enough for one event loop.
# - glibc returns the free top of its heap to the OS only above a threshold that it raises to twice the largest
#   mmapped block freed so far (up to 64 MiB): after the HTTP bodies of a burst it kept them. A fixed 128 KiB (its
#   default starting value) returns it: glibc's arenas at 500 channels 21-28 MiB over four runs with it (24 on
#   average), 28-29 MiB over three without (bench/operator-memory; noisy, but cheap: a trim is one brk call).
# Every entrypoint of this image is a small long-running service, so all of these hold for all of them.
ENV NODE_OPTIONS="--max-semi-space-size=4" \
    MALLOC_ARENA_MAX=2 \
    MALLOC_TRIM_THRESHOLD_=131072
# Owned by root and not writable by the runtime user: the process cannot modify its own code.
COPY --from=deps --chown=0:0 /app/node_modules ./node_modules
COPY --chown=0:0 package.json ./
COPY --from=build --chown=0:0 /app/dist ./dist
COPY --chown=0:0 crds ./crds
# Numeric, so Kubernetes can check runAsNonRoot without a passwd entry (65532 is the conventional "nonroot").
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "dist/main.js"]
CMD ["operator"]
