#!/usr/bin/env bash
# Lab 11 check: the password of role `jobs` was rotated under load, without a failed request.
#   - the start password no longer logs in; the one in secrets/jobs-password (the file the API
#     reads) does, and differs from it;
#   - the API is ready and, during this check, opens new connections as jobs (which, the old
#     password being refused, can only have used the new one) and creates a job through them;
#   - load.log: the load loop still runs, has requests since the file changed, and no request
#     failed since the start.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source-path=SCRIPTDIR source=pg.sh
. "$LAB_DIR/pg.sh"
file="$LAB_HOME/secrets/jobs-password"
: "${PGPORT:?no PGPORT in lab.env: make lab-start LAB=11}" "${START_PASSWORD:?}"

if ! lab_running postgres; then
    finding "the lab's PostgreSQL is not running (see run/postgres.log): make lab-start LAB=11 starts everything again"
    check_done
fi

# The credentials.
pg_login jobs "$START_PASSWORD" &&
    finding "the start password of role jobs still logs in: the rotation is not done until the old password is refused (ALTER ROLE jobs PASSWORD …)"
new=""
if [[ ! -s $file ]]; then
    finding "secrets/jobs-password is missing or empty: the API reads the password from it on every new connection"
else
    new="$(<"$file")"
    if [[ $new == "$START_PASSWORD" ]]; then
        finding "secrets/jobs-password still holds the start password: the API would use the old one"
    elif ! pg_login jobs "$new"; then
        finding "the password in secrets/jobs-password does not log in as jobs: every new connection of the API fails"
    fi
fi

# The API, on new connections.
if ! lab_running api; then
    finding "the jobs API is not running (see run/api.log): the rotation must not need a restart; make lab-start LAB=11"
elif ! curl -fsS -o /dev/null "$API_ADMIN/readyz"; then
    finding "the jobs API is not ready ($API_ADMIN/readyz): $(curl -sS "$API_ADMIN/readyz" 2>&1 | head -c 200)"
elif ! since="$(pg_admin -tAc 'SELECT now()' 2>&1)"; then
    finding "cannot log in as the superuser postgres with secrets/admin-password to look at the API's sessions: $since"
else
    sleep 1.5 # longer than APP_DATABASE_MAX_LIFETIME: every pooled connection is replaced on next use
    code="$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -d '{"kind": "hash", "payload": "lab 11 check"}' "$API/v1/jobs" 2>&1)" || true
    [[ $code == 201 ]] || finding "the check's own job submission got $code from the API, not 201 (see run/api.log)"
    # The pool names its connections after its crate (workloads/common/src/db.rs): jobs-common.
    # A snapshot can fall between a retired connection and its successor: look a few times.
    fresh=0
    for _ in $(seq 1 20); do
        fresh="$(pg_admin -tAc "SELECT count(*) FROM pg_stat_activity WHERE usename = 'jobs'
            AND application_name = 'jobs-common' AND backend_start > '$since'")"
        [[ $fresh -eq 0 ]] || break
        sleep 0.2
    done
    [[ $fresh -gt 0 ]] || finding "the jobs API opened no new connection as jobs during the check: it is not authenticating with the current password"
fi

# The load, through the rotation.
log_file="$LAB_HOME/load.log"
if [[ ! -s $log_file ]]; then
    finding "load.log is missing or empty: make lab-start LAB=11 starts the load loop"
    check_done
fi
total="$(grep -cE ' (ok|FAIL) ' "$log_file" || true)"
failed="$(grep -c ' FAIL ' "$log_file" || true)"
if [[ $failed -gt 0 ]]; then
    first="$(grep -m 1 ' FAIL ' "$log_file")"
    finding "$failed of $total requests in load.log failed (the first at $(date -u -d "@${first%% *}" +%T), \"${first#* FAIL }\"): connections opened while PostgreSQL and secrets/jobs-password disagreed were refused. Start again (make lab-start LAB=11) and change both in an order the API can follow"
fi
if ! lab_running load; then
    finding "the load loop has stopped ($(tail -n 1 "$log_file")): rotate while it runs (make lab-start LAB=11)"
elif [[ -f $file ]]; then
    changed="$(stat -c %Y "$file")"
    after=0
    for _ in $(seq 1 30); do # up to 3 s for requests after the change
        after="$(awk -v t="$changed" '$1 > t + 1 && $2 == "ok"' "$log_file" | wc -l)"
        [[ $after -lt 5 ]] || break
        sleep 0.1
    done
    [[ $after -ge 5 ]] || finding "load.log has $after successful requests since secrets/jobs-password changed: wait a few seconds for the load to go through the new password, then check again"
fi
check_done
