#!/usr/bin/env bash
# Installs, once, the pinned Synapse the e2e tests boot, into a virtualenv in the cache OUTSIDE the repository
# (CI clones fresh each run, so a venv in the clone would always be cold). Prints the venv path on stdout.
# Re-running is cheap: a venv whose marker file names the pinned version is reused as is.
set -euo pipefail

SYNAPSE_VERSION=1.163.2
CACHE="${WARROOM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warroom}"
VENV="$CACHE/peers/synapse-$SYNAPSE_VERSION"
MARKER="$VENV/.warroom-ready"

log() { printf '[synapse.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

mkdir -p "$CACHE/peers"
# Parallel test files (and a human) may call this at once: one installer at a time.
exec 9>"$CACHE/peers/synapse.lock"
flock 9

if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$SYNAPSE_VERSION" ] && [ -x "$VENV/bin/python" ]; then
  echo "$VENV"
  exit 0
fi

# Synapse 1.163 needs Python >= 3.10; take the first interpreter on PATH that qualifies.
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3.10 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
    "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
    PYTHON="$(command -v "$candidate")"
    break
  fi
done
if [ -z "$PYTHON" ]; then
  log "no Python >= 3.10 found on PATH"
  exit 1
fi

log "creating $VENV with $PYTHON ($("$PYTHON" --version 2>&1))"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
log "pip install matrix-synapse==$SYNAPSE_VERSION (slow on the first run)"
"$VENV/bin/python" -m pip install --quiet "matrix-synapse==$SYNAPSE_VERSION" >&2
"$VENV/bin/python" -c 'import synapse, sys; sys.exit(0 if synapse.__version__ == sys.argv[1] else 1)' "$SYNAPSE_VERSION"
echo "$SYNAPSE_VERSION" >"$MARKER"
log "ready"
echo "$VENV"
