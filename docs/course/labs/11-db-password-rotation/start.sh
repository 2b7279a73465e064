#!/usr/bin/env bash
# Lab 11 start: a private PostgreSQL 15 (initdb into the workspace, SCRAM authentication, on a
# loopback port), role `jobs` owning database `jobs` with its password in secrets/jobs-password,
# the jobs API serving from it (reading that file on every new connection, connections retired
# after 1 s so that new ones authenticate all the time, as pods coming and going do), and a load
# loop submitting a job every 0.1 s into load.log. No cluster: the same pieces run as processes.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source-path=SCRIPTDIR source=pg.sh
. "$LAB_DIR/pg.sh"

pg_init
port="$(free_port)" api_port="$(free_port)" admin_port="$(free_port)"
lab_env "PGPORT=$port" "API=http://127.0.0.1:$api_port" "API_ADMIN=http://127.0.0.1:$admin_port"
pg_start

# Role and database; the role's first password is set the way every later one is.
pg_admin -c 'CREATE ROLE jobs LOGIN' -c 'CREATE DATABASE jobs OWNER jobs' >/dev/null
PGHOST=127.0.0.1 PGUSER=postgres PGPASSWORD="$(<"$LAB_HOME/secrets/admin-password")" \
    "$PORTCULLIS_ROOT/pipelines/rotate-db-password.sh" --role jobs --password-file "$LAB_HOME/secrets/jobs-password" >/dev/null
rm -f "$LAB_HOME/secrets/jobs-password.lock"
lab_env "START_PASSWORD=$(<"$LAB_HOME/secrets/jobs-password")"

export APP_DATABASE_URL="postgres://jobs@127.0.0.1:$port/jobs" \
    APP_DATABASE_PASSWORD_FILE="$LAB_HOME/secrets/jobs-password" \
    APP_DATABASE_MAX_LIFETIME=1s APP_DATABASE_POOL_SIZE=4 APP_SHUTDOWN_GRACE=0s APP_DRAIN_TIMEOUT=2s \
    APP_LOG_FORMAT=text APP_LOG=warn APP_LISTEN="127.0.0.1:$api_port" APP_ADMIN_LISTEN="127.0.0.1:$admin_port"
"$JOBS_API" migrate >"$LAB_HOME/run/migrate.log" 2>&1 || die "jobs-api migrate failed: $(tail -n 5 "$LAB_HOME/run/migrate.log")"
lab_bg api "$JOBS_API" serve
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$API_ADMIN/readyz" 2>/dev/null && break
    lab_running api || die "the jobs API exited: $(tail -n 5 "$LAB_HOME/run/api.log")"
    sleep 0.1
done
lab_wait_http "$API_ADMIN/readyz"

lab_bg load "$VENV/bin/python" "$LAB_DIR/files/load.py" "$API/v1/jobs" "$LAB_HOME/load.log" 0.1 1800 18000
for _ in $(seq 1 50); do
    [[ $(grep -c ' ok ' "$LAB_HOME/load.log" 2>/dev/null) -ge 3 ]] && break
    sleep 0.2
done
grep -q ' ok ' "$LAB_HOME/load.log" || die "the load loop got no answer from the API: $(tail -n 3 "$LAB_HOME/load.log" 2>/dev/null)"

cat >"$LAB_HOME/pg.env" <<ENV
# Source me: psql and pipelines/rotate-db-password.sh then reach the lab's PostgreSQL.
export PGHOST=127.0.0.1 PGPORT=$port PGDATABASE=jobs
ENV
log "PostgreSQL on 127.0.0.1:$port, jobs API on $API, load logging to ${LAB_HOME#"$PORTCULLIS_ROOT"/}/load.log"
