#!/usr/bin/env bash
# Builds the Debian base image: `debootstrap --variant=minbase` from the Debian mirror apt uses on this machine,
# trimmed like Debian's slim images (no docs, man pages, locales, apt lists or .deb caches, and dpkg/apt told to keep
# it that way for later installs), committed into buildah's storage as REF. No registry image is pulled.
# Usage: base.sh REF SUITE MIRROR SECURITY_MIRROR WORKDIR
set -euo pipefail

REF=$1 SUITE=$2 MIRROR=$3 SECURITY_MIRROR=$4 WORK=$5
log() { printf '[base.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

ROOTFS="$WORK/rootfs"
ctr=""
cleanup() {
  if [ -n "$ctr" ]; then buildah umount "$ctr" >/dev/null 2>&1 || true; buildah rm "$ctr" >/dev/null 2>&1 || true; fi
  rm -rf "$ROOTFS"
}
trap cleanup EXIT
rm -rf "$ROOTFS"
mkdir -p "$ROOTFS"

log "debootstrap --variant=minbase $SUITE from $MIRROR"
DEBOOTSTRAP_LOG="$WORK/debootstrap.log"
if ! debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$DEBOOTSTRAP_LOG" 2>&1; then
  tail -n 40 "$DEBOOTSTRAP_LOG" >&2
  [ -f "$ROOTFS/debootstrap/debootstrap.log" ] && tail -n 40 "$ROOTFS/debootstrap/debootstrap.log" >&2
  exit 1
fi

cat >"$ROOTFS/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
SOURCES
# Keep later `apt-get install`s (coturn, python3) as small as this base: no docs, man pages or translations.
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/warroom-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
cat >"$ROOTFS/etc/apt/apt.conf.d/warroom-slim" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT
# No daemon starts during a build's `apt-get install` (as in Debian's own container images).
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/lintian "$ROOTFS"/usr/share/linda
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/* "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/*
rm -rf "$ROOTFS/debootstrap"
# The runtime provides /dev, /proc and /sys; debootstrap's device nodes have no business in a layer.
rm -rf "$ROOTFS"/dev/* "$ROOTFS"/proc/* "$ROOTFS"/sys/* "$ROOTFS"/run/*
# Written per machine by the runtime, never baked in.
: >"$ROOTFS/etc/resolv.conf"
: >"$ROOTFS/etc/hostname"
rm -f "$ROOTFS/etc/machine-id" && : >"$ROOTFS/etc/machine-id"

log "committing $REF ($(du -sh "$ROOTFS" | cut -f1))"
ctr=$(buildah from --quiet scratch)
mnt=$(buildah mount "$ctr")
# tar keeps owners, modes, setuid bits and hard links exactly (buildah copy would chown everything to root).
tar -C "$ROOTFS" --numeric-owner -cf - . | tar -C "$mnt" --numeric-owner -xpf -
buildah umount "$ctr" >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
  --cmd /bin/bash --label org.opencontainers.image.title=warroom-base \
  --label "org.opencontainers.image.description=debootstrap --variant=minbase $SUITE" "$ctr"
buildah commit --quiet --rm "$ctr" "$REF" >/dev/null
ctr=""
log "committed $REF"
