#!/usr/bin/env bash
# Builds, once, the pinned upstream binaries the local cluster needs, from Go modules, into a cache OUTSIDE the
# repository (CI clones fresh every time, so a cache in the clone would always be cold).
# Each component lands in $WARROOM_CACHE/bin/<component>-<version>-<recipe hash>/ and is skipped when present.
# Usage: build-binaries.sh [component ...]   (default: all). Prints the bin dir of each component.
set -euo pipefail

K8S_VERSION=v1.34.1
ETCD_VERSION=v3.5.21
KWOK_VERSION=v0.7.0
HELM_VERSION=v3.19.0
SEALED_SECRETS_VERSION=v0.36.0
COREDNS_VERSION=v1.15.0
# Evidence store test peers (S3 with Object Lock; an RFC 3161 timestamp authority).
VERSITYGW_VERSION=v1.8.0
TIMESTAMP_SERVER_VERSION=v2.1.3
LIVEKIT_VERSION=v1.13.11
# kind (issue 16): the kind CLI, and what a kind node image needs when built here (kubeadm is K8S_VERSION).
KIND_VERSION=v0.33.0
CRICTL_VERSION=v1.34.0
CNI_PLUGINS_VERSION=v1.9.1
# The etcd kubeadm v1.34.1 runs (its image tag is registry.k8s.io/etcd:3.6.4-0).
ETCD_KUBEADM_VERSION=v3.6.4
LOCAL_PATH_PROVISIONER_VERSION=v0.0.30
# kube-router: a TEST PEER only (network-policy controller enforcing NetworkPolicies on the real node). Known security
# flaws are reported against this version: never ship it in the chart, the images or a production doc.
KUBE_ROUTER_VERSION=v2.1.0

CACHE="${WARROOM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warroom}"
# Bump when a build recipe changes, so caches built by the old recipe are not reused.
RECIPE=r1
mkdir -p "$CACHE/bin" "$CACHE/src"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Serialise concurrent builds (parallel test files, a human running cluster:up) on one lock, taken only when something
# must be built: a run whose components are all cached never waits behind another run's long build of something else.
exec 9>"$CACHE/build.lock"
build_lock() { flock 9; }

k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
k8s_patch=${K8S_VERSION##*.}
K8S_STAGING="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap
code-generator component-base component-helpers controller-manager cri-api cri-client csi-translation-lib
dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin
sample-controller"

k8s_wrapper() {
  local dir="$CACHE/src/k8s-$K8S_VERSION"
  if [ ! -f "$dir/.ready" ]; then
    log "k8s wrapper module for $K8S_VERSION (every staging module replaced by its published v0.$k8s_minor.$k8s_patch)"
    rm -rf "$dir"; mkdir -p "$dir"
    {
      echo "module local.warroom/k8sbins"; echo; echo "go 1.24.0"; echo; echo "replace ("
      for m in $K8S_STAGING; do echo "	k8s.io/$m => k8s.io/$m v0.$k8s_minor.$k8s_patch"; done
      echo ")"
    } > "$dir/go.mod"
    (cd "$dir" && go get -tool \
      "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kube-scheduler@$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kubelet@$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kube-proxy@$K8S_VERSION" >&2)
    touch "$dir/.ready"
  fi
  echo "$dir"
}

build_k8s() { # $1 = command name
  local out="$CACHE/bin/$1-$K8S_VERSION-$RECIPE"
  [ -x "$out/$1" ] || build_lock
  if [ ! -x "$out/$1" ]; then
    local dir; dir=$(k8s_wrapper)
    local v=$K8S_VERSION
    local ldf="-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1
      -X k8s.io/component-base/version.gitMinor=$k8s_minor -X k8s.io/component-base/version.gitTreeState=clean
      -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1
      -X k8s.io/client-go/pkg/version.gitMinor=$k8s_minor"
    log "go build $1 $v (cold: minutes)"
    local t0=$SECONDS
    mkdir -p "$out.tmp"
    (cd "$dir" && go build -trimpath -ldflags "$ldf" -o "$out.tmp/$1" "k8s.io/kubernetes/cmd/$1")
    rm -rf "$out"; mv "$out.tmp" "$out"
    log "built $1 in $((SECONDS - t0)) s"
  fi
  echo "$out"
}

build_wrapped() { # $1 = name, $2 = module@version, $3 = package path, $4 = extra ldflags
  local name=$1 modver=$2 pkg=$3 ldf=${4:-}
  local ver=${modver##*@}
  local out="$CACHE/bin/$name-$ver-$RECIPE"
  [ -x "$out/$name" ] || build_lock
  if [ ! -x "$out/$name" ]; then
    local dir="$CACHE/src/$name-$ver"
    log "go build $name $ver"
    local t0=$SECONDS
    rm -rf "$dir"; mkdir -p "$dir" "$out.tmp"
    (cd "$dir" && printf 'module local.warroom/%s\n\ngo 1.24.0\n' "$name" > go.mod && go get -tool "$pkg@$ver" >&2 \
      && go build -trimpath -ldflags "-s -w $ldf" -o "$out.tmp/$name" "$pkg")
    rm -rf "$out"; mv "$out.tmp" "$out"
    log "built $name in $((SECONDS - t0)) s"
  fi
  echo "$out"
}

# livekit-server's go.mod replaces pion webrtc/dtls/ice with LiveKit's own forks, which the module proxy does not serve.
# So it is built from its published module (its own go.mod and go.sum, everything else pinned as upstream pins it)
# with those three replaces dropped, i.e. against upstream pion at the same versions. The forks add one thing the
# server calls: the experimental `enable_warp` transport, off by default and never enabled by a war room; those two
# calls are removed. The build fails loudly if the patch no longer applies.
build_livekit() {
  local ver=$LIVEKIT_VERSION
  local out="$CACHE/bin/livekit-server-$ver-$RECIPE"
  [ -x "$out/livekit-server" ] || build_lock
  if [ ! -x "$out/livekit-server" ]; then
    local dir="$CACHE/src/livekit-server-$ver" src
    log "go build livekit-server $ver (upstream pion, warp transport compiled out)"
    local t0=$SECONDS
    src=$(cd "$CACHE/src" && go mod download -json "github.com/livekit/livekit-server@$ver" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -d "$src" ] || { echo "livekit-server $ver: module download gave no source dir" >&2; exit 1; }
    rm -rf "$dir"; cp -r "$src" "$dir"; chmod -R u+w "$dir"
    sed -i '/^replace github.com\/pion\//d' "$dir/go.mod"
    sed -i -e '/se\.EnableSped(true)/d' -e '/se\.EnableSctpSnap(true)/d' "$dir/pkg/rtc/transport.go"
    if grep -q -e EnableSped -e EnableSctpSnap "$dir/pkg/rtc/transport.go" || grep -q '^replace github.com/pion/' "$dir/go.mod"; then
      echo "livekit-server $ver: the warp patch no longer applies; revisit build_livekit" >&2; exit 1
    fi
    mkdir -p "$out.tmp"
    (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/livekit-server" ./cmd/server)
    rm -rf "$out"; mv "$out.tmp" "$out"
    log "built livekit-server in $((SECONDS - t0)) s"
  fi
  echo "$out"
}

# kind: the CNI plugins a kind node image without kindnet uses, built into one directory.
build_cni_plugins() {
  local out="$CACHE/bin/cni-plugins-$CNI_PLUGINS_VERSION-$RECIPE" plugins="ptp host-local loopback portmap bridge"
  [ -x "$out/portmap" ] || build_lock
  if [ ! -x "$out/portmap" ]; then
    local dir="$CACHE/src/cni-plugins-$CNI_PLUGINS_VERSION" mod=github.com/containernetworking/plugins pkgs=()
    log "go build CNI plugins $CNI_PLUGINS_VERSION ($plugins)"
    local t0=$SECONDS
    rm -rf "$dir"; mkdir -p "$dir" "$out.tmp"
    for p in $plugins; do
      case $p in host-local) pkgs+=("$mod/plugins/ipam/$p") ;; portmap) pkgs+=("$mod/plugins/meta/$p") ;; *) pkgs+=("$mod/plugins/main/$p") ;; esac
    done
    (cd "$dir" && printf 'module local.warroom/cni-plugins\n\ngo 1.24.0\n' > go.mod \
      && go get "$mod@$CNI_PLUGINS_VERSION" >&2 \
      && go build -trimpath -ldflags "-s -w -X $mod/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" \
        -o "$out.tmp/" "${pkgs[@]}")
    rm -rf "$out"; mv "$out.tmp" "$out"
    log "built CNI plugins in $((SECONDS - t0)) s"
  fi
  echo "$out"
}

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kubeseal sealed-secrets-controller helm)
for c in "${want[@]}"; do
  case "$c" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl|kubelet|kube-proxy) d=$(build_k8s "$c") ;;
    etcd) d=$(build_wrapped etcd "go.etcd.io/etcd/server/v3@$ETCD_VERSION" go.etcd.io/etcd/server/v3) ;;
    kwok) d=$(build_wrapped kwok "sigs.k8s.io/kwok@$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok) ;;
    helm) d=$(build_wrapped helm "helm.sh/helm/v3@$HELM_VERSION" helm.sh/helm/v3/cmd/helm \
      "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION") ;;
    kubeseal) d=$(build_wrapped kubeseal "github.com/bitnami-labs/sealed-secrets@$SEALED_SECRETS_VERSION" \
      github.com/bitnami-labs/sealed-secrets/cmd/kubeseal "-X main.VERSION=$SEALED_SECRETS_VERSION") ;;
    sealed-secrets-controller) d=$(build_wrapped sealed-secrets-controller \
      "github.com/bitnami-labs/sealed-secrets@$SEALED_SECRETS_VERSION" \
      github.com/bitnami-labs/sealed-secrets/cmd/controller "-X main.VERSION=$SEALED_SECRETS_VERSION") ;;
    coredns) d=$(build_wrapped coredns "github.com/coredns/coredns@$COREDNS_VERSION" github.com/coredns/coredns) ;;
    versitygw) d=$(build_wrapped versitygw "github.com/versity/versitygw@$VERSITYGW_VERSION" \
      github.com/versity/versitygw/cmd/versitygw) ;;
    timestamp-server) d=$(build_wrapped timestamp-server \
      "github.com/sigstore/timestamp-authority/v2@$TIMESTAMP_SERVER_VERSION" \
      github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server) ;;
    livekit-server) d=$(build_livekit) ;;
    # kind (issue 16): the CLI, and the parts of a node image built here (see hack/kind/node-image.ts).
    kind) d=$(build_wrapped kind "sigs.k8s.io/kind@$KIND_VERSION" sigs.k8s.io/kind) ;;
    kubeadm) d=$(build_k8s kubeadm) ;;
    crictl) d=$(build_wrapped crictl "sigs.k8s.io/cri-tools@$CRICTL_VERSION" sigs.k8s.io/cri-tools/cmd/crictl \
      "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION") ;;
    cni-plugins) d=$(build_cni_plugins) ;;
    etcd-kubeadm) d=$(build_wrapped etcd "go.etcd.io/etcd/server/v3@$ETCD_KUBEADM_VERSION" go.etcd.io/etcd/server/v3) ;;
    local-path-provisioner) d=$(build_wrapped local-path-provisioner \
      "github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION" \
      github.com/rancher/local-path-provisioner) ;;
    kube-router) d=$(build_wrapped kube-router "github.com/cloudnativelabs/kube-router/v2@$KUBE_ROUTER_VERSION" \
      github.com/cloudnativelabs/kube-router/v2/cmd/kube-router \
      "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION") ;;
    *) echo "unknown component: $c" >&2; exit 2 ;;
  esac
  echo "$c=$d"
done
