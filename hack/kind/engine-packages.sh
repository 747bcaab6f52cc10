#!/usr/bin/env bash
# Installs, when missing, the Debian packages of kind's offline engine (hack/kind/engine.ts): docker.io brings dockerd
# 20.10, its containerd, runc, docker-proxy and tini. No service is started (apt-install.sh's policy-rc.d guard):
# engine.ts starts dockerd by hand with roots of its own.
set -euo pipefail
. "$(dirname "$0")/../peers/apt-install.sh"
ensure_packages kind-engine docker.io=/usr/sbin/dockerd
