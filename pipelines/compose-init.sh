#!/usr/bin/env bash
# pipelines/compose-init.sh: the files compose.yaml mounts and nothing else creates. Run it once
# before `docker compose up --build` (pipelines/compose-smoke.sh runs it too). Idempotent: what
# is there and still good is kept.
#
#   .work/compose/db_password   PostgreSQL's password, read by postgres (POSTGRES_PASSWORD_FILE)
#                               and by the API, worker and migration (APP_DATABASE_PASSWORD_FILE).
#                               Kept once made: the database volume was initialised with it.
#   .work/compose/tls/          the webhook's serving certificate (tls.crt, tls.key) for
#                               localhost, 127.0.0.1, webhook (the compose service) and
#                               portcullis.portcullis-system.svc, and the CA that signed it
#                               (ca.crt: give it to clients, e.g. `curl --cacert`). Valid
#                               $TLS_DAYS days; remade when missing, expiring within a day or made
#                               for other names. The CA's key is not kept.
#
# Modes: the containers run as other users (postgres, 65532) and compose bind-mounts these files
# as they are (its `secrets:` uid/gid/mode apply to Swarm only), so the files are world-readable
# and .work/compose is 0700: other users of this machine cannot reach them, the containers can.
# What it does not do: start anything, or touch the database volume (`docker compose down -v`
# before changing the password).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

COMPOSE_FILES="$PORTCULLIS_WORK/compose"
TLS_DIR="$COMPOSE_FILES/tls"
TLS_SAN="DNS:localhost,IP:127.0.0.1,DNS:webhook,DNS:portcullis.portcullis-system.svc"
TLS_DAYS=90

make_password() {
    local file="$COMPOSE_FILES/db_password"
    if [[ -s $file ]]; then
        present db_password "${file#"$PORTCULLIS_ROOT"/} (kept)"
        return
    fi
    (umask 022 && openssl rand -hex 24 | tr -d '\n' >"$file.new") || die "cannot write $file"
    chmod 0644 "$file.new"
    mv -f "$file.new" "$file"
    installed db_password "${file#"$PORTCULLIS_ROOT"/}"
}

tls_is_current() {
    local f
    for f in ca.crt tls.crt tls.key san; do [[ -s $TLS_DIR/$f ]] || return 1; done
    [[ "$(<"$TLS_DIR/san")" == "$TLS_SAN" ]] || return 1
    openssl x509 -checkend 86400 -noout -in "$TLS_DIR/tls.crt" >/dev/null 2>&1 || return 1
    openssl verify -CAfile "$TLS_DIR/ca.crt" "$TLS_DIR/tls.crt" >/dev/null 2>&1
}

make_tls() {
    if tls_is_current; then
        present tls "${TLS_DIR#"$PORTCULLIS_ROOT"/} (until $(openssl x509 -enddate -noout -in "$TLS_DIR/tls.crt" | cut -d= -f2))"
        return
    fi
    local tmp
    tmp="$(mktemp -d "$COMPOSE_FILES/tls.new.XXXXXX")"
    webhook_tls "$tmp" "$TLS_SAN" "$TLS_DAYS"
    [[ -s $tmp/tls.crt && -s $tmp/tls.key && -s $tmp/ca.crt ]] || die "openssl did not make the certificates"
    printf '%s\n' "$TLS_SAN" >"$tmp/san"
    mkdir -p "$TLS_DIR"
    chmod 0755 "$TLS_DIR"
    # One file at a time, each by rename: a running webhook ignores the half-replaced pair (key
    # and certificate do not match) and keeps serving the previous one until both are new.
    local f
    for f in tls.key ca.crt san tls.crt; do
        install -m 0644 "$tmp/$f" "$TLS_DIR/$f.new"
        mv -f "$TLS_DIR/$f.new" "$TLS_DIR/$f"
    done
    rm -rf "$tmp"
    installed tls "${TLS_DIR#"$PORTCULLIS_ROOT"/} ($TLS_SAN, $TLS_DAYS days)"
}

main() {
    mkdir -p "$COMPOSE_FILES"
    chmod 0700 "$COMPOSE_FILES"
    make_password
    make_tls
}

main "$@"
