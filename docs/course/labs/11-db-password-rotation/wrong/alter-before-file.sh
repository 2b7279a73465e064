#!/usr/bin/env bash
# A plausible wrong answer: change the password in PostgreSQL first (psql, as the superuser), then
# go and edit the file the API reads. For those seconds every new connection of the API is
# refused twice (the file still holds the old password when it retries), and requests fail.
# expect: requests in load.log failed
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source-path=SCRIPTDIR source=../pg.sh
. "$LAB_DIR/pg.sh"
new="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
pg_admin -v pw="$new" <<'SQL'
ALTER ROLE jobs PASSWORD :'pw';
SQL
sleep 2 # finding the file, opening an editor
printf '%s' "$new" >"$LAB_HOME/secrets/jobs-password"
sleep 1
