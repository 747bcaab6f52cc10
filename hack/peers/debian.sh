#!/usr/bin/env bash
# Installs the Debian packages whose binaries the e2e tests run as real peers, when missing:
#   coturn     -> turnserver, turnutils_uclient
#   prometheus -> promtool
set -euo pipefail
. "$(dirname "$0")/apt-install.sh"
ensure_packages debian.sh coturn=turnserver prometheus=promtool
