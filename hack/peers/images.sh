#!/usr/bin/env bash
# Installs the Debian packages that build the local container images without a Docker engine, when missing:
#   buildah        -> buildah   (builds Containerfiles with --isolation chroot; its own containers-storage)
#   skopeo         -> skopeo    (copies images out of containers-storage as docker-archive tars for `ctr import`)
#   umoci          -> umoci     (unpacks OCI images: lets a test run a binary of an image without a runtime)
#   debootstrap    -> debootstrap (the Debian base rootfs: no registry image can be pulled here)
#   busybox-static -> busybox   (a static shell + httpd for the tiny images)
#   gcc, libc6-dev -> gcc       (the static pause binary)
set -euo pipefail
. "$(dirname "$0")/apt-install.sh"
ensure_packages images.sh \
  buildah=dpkg skopeo=dpkg umoci=dpkg debootstrap=dpkg busybox-static=dpkg gcc=dpkg libc6-dev=dpkg
