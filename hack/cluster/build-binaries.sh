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
# kube-router: a TEST PEER only (network-policy controller enforcing NetworkPolicies on the real node). Known security
# flaws are reported against this version: never ship it in the chart, the images or a production doc.
KUBE_ROUTER_VERSION=v2.1.0

CACHE="${WARROOM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warroom}"
# Bump when a build recipe changes, so caches built by the old recipe are not reused.
RECIPE=r1
mkdir -p "$CACHE/bin" "$CACHE/src"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Serialise concurrent builds (parallel test files, a human running cluster:up) on one lock.
exec 9>"$CACHE/build.lock"
flock 9

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
    kube-router) d=$(build_wrapped kube-router "github.com/cloudnativelabs/kube-router/v2@$KUBE_ROUTER_VERSION" \
      github.com/cloudnativelabs/kube-router/v2/cmd/kube-router \
      "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION") ;;
    *) echo "unknown component: $c" >&2; exit 2 ;;
  esac
  echo "$c=$d"
done
