#!/usr/bin/env bash
# Installs the Debian packages whose binaries the e2e tests run as real peers, when missing:
#   coturn     -> turnserver, turnutils_uclient
#   prometheus -> promtool
# Package installation must not start daemons (coturn and prometheus ship services): a temporary policy-rc.d
# answering 101 ("action forbidden") makes invoke-rc.d skip every start during this install.
set -euo pipefail

log() { printf '[debian.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

declare -A BINARY_OF=([coturn]=turnserver [prometheus]=promtool)
missing=()
for pkg in "${!BINARY_OF[@]}"; do
  command -v "${BINARY_OF[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "missing ${missing[*]} and not root: install them with apt-get"
  exit 1
fi

# Parallel test runs: one apt at a time (apt has its own lock, but it fails rather than waits).
exec 9>/var/lock/warroom-debian-peers.lock
flock 9

POLICY=/usr/sbin/policy-rc.d
policy_was_ours=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"
  policy_was_ours=1
fi
APT_LOG="$(mktemp)"
cleanup() {
  if [ "$policy_was_ours" -eq 1 ]; then rm -f "$POLICY"; fi
  rm -f "$APT_LOG"
}
trap cleanup EXIT
# apt is chatty; keep its output for when it fails.
apt_quiet() {
  if ! "$@" >"$APT_LOG" 2>&1; then
    cat "$APT_LOG" >&2
    log "failed: $*"
    exit 1
  fi
}

export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
apt_quiet apt-get update -qq
log "apt-get install ${missing[*]}"
apt_quiet apt-get install -y -qq --no-install-recommends "${missing[@]}"

for pkg in "${missing[@]}"; do
  if ! command -v "${BINARY_OF[$pkg]}" >/dev/null 2>&1; then
    log "$pkg installed but ${BINARY_OF[$pkg]} is not on PATH"
    exit 1
  fi
done
log "installed ${missing[*]}"
