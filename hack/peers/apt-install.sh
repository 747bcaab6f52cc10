# Sourced by the hack/peers/*.sh installers: `ensure_packages NAME PKG=PROBE ...` installs, with apt-get, each Debian
# package whose probe is missing. A probe is a command name (looked up on PATH), an absolute path (must be
# executable), or `dpkg` (the package itself must be installed). Nothing happens when all are present.
# - Package installation must not start daemons (coturn, prometheus and containerd ship services): a temporary
#   policy-rc.d answering 101 ("action forbidden") makes invoke-rc.d skip every start during the install.
# - Parallel test runs: one apt at a time (apt has its own lock, but it fails rather than waits), so every installer
#   takes the same lock.

ensure_packages() {
  local name="$1"
  shift
  log() { printf '[%s %s] %s\n' "$name" "$(date +%H:%M:%S)" "$*" >&2; }
  present() {
    case "$2" in
      dpkg) dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ;;
      /*) [ -x "$2" ] ;;
      *) command -v "$2" >/dev/null 2>&1 ;;
    esac
  }
  local -A probe_of=()
  local pair pkg missing=()
  for pair in "$@"; do probe_of["${pair%%=*}"]="${pair#*=}"; done
  for pkg in "${!probe_of[@]}"; do
    present "$pkg" "${probe_of[$pkg]}" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0

  if [ "$(id -u)" -ne 0 ]; then
    log "missing ${missing[*]} and not root: install them with apt-get"
    return 1
  fi
  exec 9>/var/lock/warroom-debian-peers.lock
  flock 9

  local policy=/usr/sbin/policy-rc.d policy_was_ours=0 apt_log
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    policy_was_ours=1
  fi
  apt_log="$(mktemp)"
  # apt is chatty; keep its output for when it fails.
  apt_quiet() {
    if ! "$@" >"$apt_log" 2>&1; then
      cat "$apt_log" >&2
      log "failed: $*"
      return 1
    fi
  }
  local status=0
  export DEBIAN_FRONTEND=noninteractive
  log "apt-get install ${missing[*]}"
  apt_quiet apt-get update -qq && apt_quiet apt-get install -y -qq --no-install-recommends "${missing[@]}" || status=1
  if [ "$policy_was_ours" -eq 1 ]; then rm -f "$policy"; fi
  rm -f "$apt_log"
  exec 9>&-
  [ "$status" -eq 0 ] || return 1

  for pkg in "${missing[@]}"; do
    if ! present "$pkg" "${probe_of[$pkg]}"; then
      log "$pkg installed but ${probe_of[$pkg]} is not there"
      return 1
    fi
  done
  log "installed ${missing[*]}"
}
