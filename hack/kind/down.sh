#!/usr/bin/env bash
# npm run kind:down — deletes the kind cluster made by kind:up, and with it every war room in it. Export any evidence
# you need first: close each channel (spec.closed: true) and wait for phase Closed.
set -euo pipefail

CLUSTER_NAME=${CLUSTER_NAME:-warroom}

command -v kind >/dev/null 2>&1 || { echo "[kind:down] error: kind is not installed" >&2; exit 1; }
if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  echo "[kind:down] no kind cluster named ${CLUSTER_NAME}; nothing to do" >&2
  exit 0
fi
if command -v kubectl >/dev/null 2>&1; then
  # Closed and Expired are the terminal phases: their evidence is exported and their namespaces are gone.
  open=$(kubectl --context "kind-${CLUSTER_NAME}" get incidentchannels \
    -o jsonpath='{range .items[*]}{.metadata.name}={.status.phase}{"\n"}{end}' 2>/dev/null |
    awk -F= '$2 != "Closed" && $2 != "Expired" { printf "%s ", $1 }' || true)
  if [[ -n "${open// /}" && "${FORCE:-}" != 1 ]]; then
    echo "[kind:down] channels not closed yet: ${open}" >&2
    echo "[kind:down] close them first (kubectl patch ic NAME --type merge -p '{\"spec\":{\"closed\":true}}'), or run with FORCE=1" >&2
    exit 1
  fi
fi
echo "[kind:down] deleting kind cluster ${CLUSTER_NAME}" >&2
kind delete cluster --name "$CLUSTER_NAME"
