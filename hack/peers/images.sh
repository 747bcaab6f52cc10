#!/usr/bin/env bash
# Installs the Debian packages that build the local container images without a Docker engine, when missing:
#   buildah        -> buildah   (builds Containerfiles with --isolation chroot; its own containers-storage)
#   skopeo         -> skopeo    (copies images out of containers-storage as docker-archive tars for `ctr import`)
#   umoci          -> umoci     (unpacks OCI images: lets a test run a binary of an image without a runtime)
#   debootstrap    -> debootstrap (the Debian base rootfs: no registry image can be pulled here)
#   busybox-static -> busybox   (a static shell + httpd for the tiny images)
#   gcc, libc6-dev -> gcc       (the static pause binary)
# Package installation must not start daemons: a temporary policy-rc.d answering 101 ("action forbidden") makes
# invoke-rc.d skip every start during this install (same pattern as hack/peers/debian.sh).
set -euo pipefail

log() { printf '[images.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

PACKAGES=(buildah skopeo umoci debootstrap busybox-static gcc libc6-dev)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "missing ${missing[*]} and not root: install them with apt-get"
  exit 1
fi

# Parallel runs: one apt at a time (apt has its own lock, but it fails rather than waits).
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
  installed "$pkg" || { log "$pkg is still not installed"; exit 1; }
done
log "installed ${missing[*]}"
