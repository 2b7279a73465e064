#!/usr/bin/env bash
# The entrypoint of the stand-in `postgres` image that pipelines/compose-smoke.sh builds from a
# Debian rootfs (pipelines/lib/standins.sh), because Docker Hub's postgres image cannot be pulled
# on the build machine. It runs inside that image, never on the host.
#
# It honours the part of the official image's contract that compose.yaml uses, in the same way:
#   POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (required unless POSTGRES_HOST_AUTH_METHOD=trust),
#   POSTGRES_USER (default postgres), POSTGRES_DB (default $POSTGRES_USER), PGDATA (default
#   /var/lib/postgresql/data), POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default
#   scram-sha-256 for every host connection); started as root it prepares PGDATA and drops to the
#   postgres user; the first start runs initdb and creates the database; then `exec postgres`
#   listening on all addresses, so signals reach the server.
# It does not run /docker-entrypoint-initdb.d scripts (it refuses to start if there are any,
# rather than silently skipping them), and it is not the official image's script.
set -euo pipefail

PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA

die() {
    printf 'stand-in postgres: error: %s\n' "$*" >&2
    exit 1
}
log() { printf 'stand-in postgres: %s\n' "$*" >&2; }

# file_env VAR: VAR from $VAR or from the file named by ${VAR}_FILE (not both).
file_env() {
    local var="$1" file_var="${1}_FILE"
    if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then
        die "both $var and $file_var are set (they are exclusive)"
    fi
    if [[ -n ${!file_var:-} ]]; then
        [[ -r ${!file_var} ]] || die "$file_var=${!file_var}: no such readable file"
        printf -v "$var" '%s' "$(<"${!file_var}")"
    fi
    export "${var?}"="${!var:-}"
    unset "$file_var"
}

if [[ $# -eq 0 || ${1:0:1} == - ]]; then
    set -- postgres "$@"
fi
[[ $1 == postgres ]] || exec "$@"

if [[ $(id -u) -eq 0 ]]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 0700 "$PGDATA"
    chmod 2775 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [[ ! -s $PGDATA/PG_VERSION ]]; then
    file_env POSTGRES_PASSWORD
    POSTGRES_USER="${POSTGRES_USER:-postgres}"
    POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
    auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
    if [[ -z $POSTGRES_PASSWORD && $auth != trust ]]; then
        die "the database is uninitialized and no password is set: set POSTGRES_PASSWORD or" \
            "POSTGRES_PASSWORD_FILE (or POSTGRES_HOST_AUTH_METHOD=trust)"
    fi
    if compgen -G '/docker-entrypoint-initdb.d/*' >/dev/null; then
        die "/docker-entrypoint-initdb.d holds scripts; this stand-in does not run them"
    fi
    log "initdb for user $POSTGRES_USER, database $POSTGRES_DB, host auth $auth"
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as in the official image
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

    # A temporary server on a private socket only: neither a TCP client nor the healthcheck's
    # pg_isready can see it, so nothing connects before the database exists.
    sock="$(mktemp -d)"
    pg_ctl -D "$PGDATA" -w -t 60 -o "-c listen_addresses='' -k $sock" start >/dev/null
    if [[ $POSTGRES_DB != postgres ]]; then
        # The name as a quoted identifier, like the official image (psql's :"var" quoting).
        psql -v ON_ERROR_STOP=1 -h "$sock" -U "$POSTGRES_USER" -d postgres -v db="$POSTGRES_DB" \
            -q <<<'CREATE DATABASE :"db";'
    fi
    pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
    rmdir "$sock"
    unset POSTGRES_PASSWORD
    log "initialized; starting the server"
fi

exec "$@"
