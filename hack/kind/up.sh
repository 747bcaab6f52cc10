#!/usr/bin/env bash
# npm run kind:up — warroom on a local kind cluster, end to end: create the cluster (kind-config.yaml),
# build the image from the Dockerfile, load it into kind, install the sealed-secrets controller and ingress-nginx from
# their upstream release manifests (downloaded by URL: this needs internet access), install the chart with the local
# image, apply examples/minimal.yaml and wait until that war room is Ready.
#
# Every kubectl and helm call names the kind context explicitly, so this never touches another cluster.
# Overrides (environment): CLUSTER_NAME, IMAGE, SEALED_SECRETS_VERSION, INGRESS_NGINX_VERSION, RELEASE, RELEASE_NAMESPACE,
# EXAMPLE (a file under examples/, or "none").
set -euo pipefail

cd "$(dirname "$0")/../.."

CLUSTER_NAME=${CLUSTER_NAME:-warroom}
CONTEXT="kind-${CLUSTER_NAME}"
IMAGE=${IMAGE:-warroom:dev}
RELEASE=${RELEASE:-warroom}
RELEASE_NAMESPACE=${RELEASE_NAMESPACE:-warroom-system}
EXAMPLE=${EXAMPLE:-examples/minimal.yaml}
# The versions the project is tested against (the sealed-secrets build in hack/cluster/build-binaries.sh is v0.36.0).
SEALED_SECRETS_VERSION=${SEALED_SECRETS_VERSION:-v0.36.0}
INGRESS_NGINX_VERSION=${INGRESS_NGINX_VERSION:-controller-v1.12.1}
SEALED_SECRETS_URL="https://github.com/bitnami-labs/sealed-secrets/releases/download/${SEALED_SECRETS_VERSION}/controller.yaml"
INGRESS_NGINX_URL="https://raw.githubusercontent.com/kubernetes/ingress-nginx/${INGRESS_NGINX_VERSION}/deploy/static/provider/kind/deploy.yaml"

say() { printf '[kind:up] %s\n' "$*" >&2; }
die() { printf '[kind:up] error: %s\n' "$*" >&2; exit 1; }

missing=()
for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
  die "missing: ${missing[*]}. Install Docker (a running engine), kind >= 0.24, kubectl and helm 3, then run again."
fi
docker info >/dev/null 2>&1 || die "docker is installed but its engine is not reachable (is the daemon running? may this user use it?)"
kind_version=$(kind version | sed -n 's/^kind v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
if [[ -n "$kind_version" ]]; then
  read -r kind_major kind_minor <<<"$kind_version"
  if ((kind_major == 0 && kind_minor < 24)); then
    say "warning: kind $(kind version) predates NetworkPolicy enforcement in kindnet (0.24); policies will not be enforced"
  fi
fi

k() { kubectl --context "$CONTEXT" "$@"; }

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  say "cluster ${CLUSTER_NAME} exists; reusing it"
else
  say "creating kind cluster ${CLUSTER_NAME}"
  kind create cluster --name "$CLUSTER_NAME" --config kind-config.yaml --wait 180s
fi

say "building ${IMAGE} from the Dockerfile"
docker build --tag "$IMAGE" --build-arg VERSION="$(node -p 'require("./package.json").version' 2>/dev/null || echo dev)" .
say "loading ${IMAGE} into the cluster's node(s)"
kind load docker-image "$IMAGE" --name "$CLUSTER_NAME"

say "installing the sealed-secrets controller ${SEALED_SECRETS_VERSION} (${SEALED_SECRETS_URL})"
k apply -f "$SEALED_SECRETS_URL"
say "installing ingress-nginx ${INGRESS_NGINX_VERSION} (${INGRESS_NGINX_URL})"
k apply -f "$INGRESS_NGINX_URL"
k -n kube-system rollout status deployment/sealed-secrets-controller --timeout=180s
k -n ingress-nginx rollout status deployment/ingress-nginx-controller --timeout=300s

# The TURN relays must never reach cluster addresses: tell the operator the node network too (kind's docker network).
node_cidrs=$(docker network inspect kind --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' 2>/dev/null |
  tr ' ' '\n' | grep -v ':' | grep . | paste -sd, - || true)

say "installing the chart into ${RELEASE_NAMESPACE} (image ${IMAGE})"
k create namespace "$RELEASE_NAMESPACE" --dry-run=client -o yaml | k apply -f -
# The operator's own namespace runs under the restricted Pod Security Standard, like every war room.
k label namespace "$RELEASE_NAMESPACE" --overwrite \
  pod-security.kubernetes.io/enforce=restricted \
  pod-security.kubernetes.io/warn=restricted \
  pod-security.kubernetes.io/audit=restricted
helm_args=(
  upgrade --install "$RELEASE" charts/warroom
  --kube-context "$CONTEXT"
  --namespace "$RELEASE_NAMESPACE"
  --set "image.repository=${IMAGE%:*}"
  --set "image.tag=${IMAGE##*:}"
  --set image.pullPolicy=Never
  # One node: a second replica would only spread onto the same node.
  --set replicaCount=1
  # examples/kind.yaml pins 32000-32019, the ports kind-config.yaml maps: other war rooms' relay blocks go below them.
  --set operator.relayPorts=30000-31999
  --set-json 'operator.network.podCidrs=["10.244.0.0/16"]'
  --set-json 'operator.network.serviceCidrs=["10.96.0.0/16"]'
  --wait --timeout 5m
)
if [[ -n "$node_cidrs" ]]; then
  helm_args+=(--set-json "operator.network.nodeCidrs=[\"${node_cidrs//,/\",\"}\"]")
fi
helm "${helm_args[@]}"

if [[ "$EXAMPLE" == none ]]; then
  say "done; no example applied (EXAMPLE=none)"
  exit 0
fi
[[ -f "$EXAMPLE" ]] || die "$EXAMPLE does not exist"
channel=$(k create --dry-run=client -f "$EXAMPLE" -o jsonpath='{.metadata.name}')
say "applying ${EXAMPLE} (IncidentChannel ${channel}) and waiting for phase Ready"
k apply -f "$EXAMPLE"
if ! k wait "incidentchannel/${channel}" --for=jsonpath='{.status.phase}'=Ready --timeout=10m; then
  k get incidentchannel "$channel" -o yaml >&2 || true
  die "IncidentChannel ${channel} did not become Ready; see its conditions above and: kubectl --context ${CONTEXT} -n ${RELEASE_NAMESPACE} logs deploy/${RELEASE}"
fi
ns=$(k get incidentchannel "$channel" -o jsonpath='{.status.namespace}')
say "war room ${channel} is Ready in namespace ${ns}"
cat >&2 <<EOF

  kubectl --context ${CONTEXT} get incidentchannels
  kubectl --context ${CONTEXT} -n ${ns} get pods,svc
  kubectl --context ${CONTEXT} -n ${ns} port-forward svc/<the Element service> 8080:<its port>   # then http://localhost:8080
  kubectl --context ${CONTEXT} patch ic ${channel} --type merge -p '{"spec":{"closed":true}}'     # close it
  npm run kind:down                                                                             # delete the cluster

EOF
