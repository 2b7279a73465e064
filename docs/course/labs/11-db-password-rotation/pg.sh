# shellcheck shell=bash
# Lab 11: the lab's own PostgreSQL cluster, in $LAB_HOME/pg (data, socket folder, log), stopped
# by lab_stop like every lab process. As root, the server runs as the `postgres` OS user (it
# refuses to run as root); its superuser `postgres` has a random password in
# secrets/admin-password.
PG_BIN="${PG_BIN:-$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)}"
[[ -x $PG_BIN/initdb ]] || die "no PostgreSQL server binaries (initdb) under /usr/lib/postgresql: make bootstrap installs postgresql-15"
JOBS_API="$(dirname "$LAB_BIN")/jobs-api"
[[ -x $JOBS_API ]] || die "no jobs-api next to $LAB_BIN: cargo build -p jobs-api"

as_pg() { # CMD…: as the postgres OS user when we are root
    if [[ $(id -u) -eq 0 ]]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi
}

pg_init() {
    local pg="$LAB_HOME/pg"
    mkdir -p "$pg/data" "$pg/run" "$LAB_HOME/secrets" "$LAB_HOME/run"
    chmod 700 "$pg/data" "$LAB_HOME/secrets"
    python3 -c 'import secrets; print(secrets.token_urlsafe(24), end="")' >"$LAB_HOME/secrets/admin-password"
    chmod 600 "$LAB_HOME/secrets/admin-password"
    cp "$LAB_HOME/secrets/admin-password" "$pg/pwfile"
    [[ $(id -u) -ne 0 ]] || chown -R postgres:postgres "$pg"
    as_pg "$PG_BIN/initdb" -D "$pg/data" -U postgres -E UTF8 --no-sync --auth-local=scram-sha-256 \
        --auth-host=scram-sha-256 --pwfile="$pg/pwfile" >"$LAB_HOME/run/initdb.log" 2>&1 ||
        die "initdb failed: $(tail -n 5 "$LAB_HOME/run/initdb.log")"
    rm -f "$pg/pwfile"
}

pg_start() {
    local pg="$LAB_HOME/pg"
    lab_bg postgres setpriv --reuid=postgres --regid=postgres --init-groups -- "$PG_BIN/postgres" -D "$pg/data" \
        -p "$PGPORT" -k "$pg/run" -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off
    for _ in $(seq 1 100); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && return 0
        lab_running postgres || die "PostgreSQL did not start: $(tail -n 5 "$LAB_HOME/run/postgres.log")"
        sleep 0.1
    done
    die "PostgreSQL is not ready on 127.0.0.1:$PGPORT after 10 s"
}

# pg_admin PSQL-ARGS…: psql as the superuser (password from secrets/admin-password).
pg_admin() {
    PGPASSWORD="$(<"$LAB_HOME/secrets/admin-password")" PGPASSFILE=/dev/null \
        psql -X -q -w -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres "$@"
}

# pg_login ROLE PASSWORD: can ROLE log in to database jobs with PASSWORD?
pg_login() {
    PGPASSWORD="$2" PGPASSFILE=/dev/null psql -X -q -w -h 127.0.0.1 -p "$PGPORT" -U "$1" -d jobs -tAc 'SELECT 1' >/dev/null 2>&1
}
