#!/usr/bin/env bash
# Lab 11 reference solution: the repository's rotation (pipelines/rotate-db-password.sh), the role
# rotating its own password: ALTER ROLE with a SCRAM verifier made locally, then the password file
# replaced atomically a few milliseconds later. The API re-reads the file on every new connection
# and, refused, re-reads it and retries once after 250 ms: the short window is covered. Then it
# waits until the load has gone through the new password.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
PGHOST=127.0.0.1 PGPORT="$PGPORT" PGUSER=jobs PGDATABASE=jobs \
    "$PORTCULLIS_ROOT/pipelines/rotate-db-password.sh" --password-file "$LAB_HOME/secrets/jobs-password"
sleep 1
