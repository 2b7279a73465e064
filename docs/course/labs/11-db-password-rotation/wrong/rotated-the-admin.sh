#!/usr/bin/env bash
# A plausible wrong answer: run the rotation as the superuser but forget --role jobs (the role
# defaults to PGUSER) and point it at the admin's password file: postgres gets a new password,
# jobs keeps its old one. Nothing fails, and nothing was rotated.
# expect: start password of role jobs still logs in
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
PGHOST=127.0.0.1 PGPORT="$PGPORT" PGUSER=postgres PGDATABASE=postgres PGPASSWORD="$(<"$LAB_HOME/secrets/admin-password")" \
    "$PORTCULLIS_ROOT/pipelines/rotate-db-password.sh" --password-file "$LAB_HOME/secrets/admin-password"
sleep 1
