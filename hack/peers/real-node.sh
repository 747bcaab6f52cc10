#!/usr/bin/env bash
# Installs the Debian packages a real node of the local cluster needs (hack/cluster/real-node.ts), when missing:
#   containerd                  -> containerd, ctr, containerd-shim-runc-v2
#   runc                        -> runc
#   containernetworking-plugins -> /usr/lib/cni/{bridge,host-local,loopback}
#   iptables                    -> iptables, iptables-save (kube-proxy's iptables mode)
#   conntrack                   -> conntrack (kube-proxy clears stale UDP entries with it)
#   busybox-static              -> /bin/busybox (the tiny test images of test/integration/real-node.test.ts)
# Installing containerd must not start its daemon (the harness runs its own, with all state in a temp dir): a
# temporary policy-rc.d answering 101 ("action forbidden") makes invoke-rc.d skip every start during this install.
set -euo pipefail

log() { printf '[real-node.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

declare -A PROBE_OF=(
  [containerd]=containerd
  [runc]=runc
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [iptables]=iptables
  [conntrack]=conntrack
  [busybox-static]=/bin/busybox
)
present() { case "$1" in /*) [ -x "$1" ] ;; *) command -v "$1" >/dev/null 2>&1 ;; esac; }
missing=()
for pkg in "${!PROBE_OF[@]}"; do
  present "${PROBE_OF[$pkg]}" || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "missing ${missing[*]} and not root: install them with apt-get"
  exit 1
fi

# Parallel test runs: one apt at a time (apt has its own lock, but it fails rather than waits). Same lock as
# hack/peers/debian.sh, so the two installers never race either.
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
  if ! present "${PROBE_OF[$pkg]}"; then
    log "$pkg installed but ${PROBE_OF[$pkg]} is not there"
    exit 1
  fi
done
log "installed ${missing[*]}"
