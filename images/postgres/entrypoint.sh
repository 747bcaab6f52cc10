#!/bin/bash
# The subset of the official postgres image's entrypoint that the war room's pod spec relies on: on an empty PGDATA,
# initdb with POSTGRES_USER as superuser (password from POSTGRES_PASSWORD_FILE, extra POSTGRES_INITDB_ARGS), password
# (scram-sha-256) auth for every TCP client, POSTGRES_DB created; then postgres listening on all addresses.
# The password never reaches argv or a log line: initdb reads it from the file.
set -Eeuo pipefail

if [ "${1:-postgres}" != postgres ]; then
  exec "$@"
fi
shift || true

: "${PGDATA:?PGDATA must be set}"
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD_FILE:-}" ] || [ ! -s "$POSTGRES_PASSWORD_FILE" ]; then
    echo "entrypoint: POSTGRES_PASSWORD_FILE must name a non-empty file to initialise $PGDATA" >&2
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of flags, as in the official image.
  initdb --username="$POSTGRES_USER" --pwfile="$POSTGRES_PASSWORD_FILE" --auth-local=trust \
    --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA" >/dev/null
  printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    # A private server on the socket only, just long enough to create the database.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w start >/dev/null
    # On stdin, not -c: psql interpolates :"db" (quoted as an identifier) only in what it reads.
    printf 'CREATE DATABASE :"db";\n' |
      psql -v ON_ERROR_STOP=1 --no-psqlrc -q -h /var/run/postgresql -U "$POSTGRES_USER" -d postgres -v db="$POSTGRES_DB"
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  echo "entrypoint: initialised $PGDATA"
fi

exec postgres -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"
