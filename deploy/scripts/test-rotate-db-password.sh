#!/usr/bin/env bash
# Tests pipelines/rotate-db-password.sh against a throwaway PostgreSQL on loopback.
#
# Starts its own server (Debian's postgresql package; installed with apt-get if missing and we are
# root) in a temporary folder on a free 127.0.0.1 port, then checks:
#   1. a role rotating its own password (PGUSER = role, current password from the file)
#   2. an admin rotating another role (PGUSER=postgres, PGPASSWORD)
#   3. a failed ALTER ROLE (wrong admin password) changes nothing
#   4. the clear-text password never reaches the server log (log_statement=all)
#   5. a client that re-reads the file and retries once on an authentication failure (what the
#      workloads do) sees no failed request across several rotations
# The server is stopped by its PID at the end, whatever happens.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ROTATE="$ROOT/pipelines/rotate-db-password.sh"
ROTATIONS=5          # rotations during the client loop (check 5)
CLIENT_SECONDS=8     # the client loop stops by itself after this long

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok   $*"; }

PGBIN="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1 || true)"
if [[ -z "$PGBIN" ]]; then
  [[ "$(id -u)" -eq 0 ]] || fail "PostgreSQL server not installed (apt-get install postgresql)"
  echo "installing PostgreSQL (apt-get install postgresql)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >/dev/null
  PGBIN="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -n 1)"
fi
command -v psql >/dev/null || fail "psql not found"

TMP="$(mktemp -d /tmp/rotate-db-password-test.XXXXXX)"
chmod 755 "$TMP"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -INT "$SERVER_PID"   # fast shutdown of the postmaster we started, by its PID
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# The server must not run as root: use the postgres system user when we are root.
as_server_user() {
  if [[ "$(id -u)" -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ADMIN_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
mkdir -p "$TMP/data" "$TMP/run" "$TMP/secrets"
printf '%s\n' "$ADMIN_PASSWORD" >"$TMP/admin-pw"
[[ "$(id -u)" -ne 0 ]] || chown postgres "$TMP/data" "$TMP/run" "$TMP/admin-pw"
as_server_user "$PGBIN/initdb" -D "$TMP/data" -U postgres --pwfile="$TMP/admin-pw" \
  --auth-local=scram-sha-256 --auth-host=scram-sha-256 >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log"; fail "initdb"; }
rm -f "$TMP/admin-pw"
as_server_user "$PGBIN/pg_ctl" -D "$TMP/data" -l "$TMP/run/server.log" -w -t 30 start \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $TMP/run -c log_statement=all" >/dev/null ||
  { cat "$TMP/run/server.log"; fail "server did not start"; }
SERVER_PID="$(head -n 1 "$TMP/data/postmaster.pid")"
pass "PostgreSQL $("$PGBIN/postgres" --version | awk '{ print $3 }') on 127.0.0.1:$PORT (pid $SERVER_PID)"

export PGHOST=127.0.0.1 PGPORT="$PORT"
admin() { PGUSER=postgres PGPASSWORD="$ADMIN_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
can_login() { # password
  PGUSER=jobs PGPASSWORD="$1" PGPASSFILE=/dev/null psql -X -q -w -d jobs -tAc 'SELECT 1' >/dev/null 2>&1
}

INITIAL="initial-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
admin -v pw="$INITIAL" <<'SQL'
CREATE ROLE jobs LOGIN PASSWORD :'pw';
CREATE DATABASE jobs OWNER jobs;
SQL
FILE="$TMP/secrets/password"
printf '%s' "$INITIAL" >"$FILE"
can_login "$INITIAL" || fail "initial login"

# 1. self-rotation
old="$(<"$FILE")"
PGUSER="jobs" "$ROTATE" --password-file "$FILE" >/dev/null
new="$(<"$FILE")"
[[ "$new" != "$old" && ${#new} -ge 40 ]] || fail "self-rotation did not write a new password"
can_login "$new" || fail "self-rotation: new password does not log in"
! can_login "$old" || fail "self-rotation: old password still logs in"
[[ "$(stat -c %a "$FILE")" == 600 ]] || fail "password file mode is $(stat -c %a "$FILE"), want 600"
pass "role rotates its own password (old rejected, new accepted, file mode 600)"

# 2. admin rotation
old="$new"
PGUSER=postgres PGPASSWORD="$ADMIN_PASSWORD" "$ROTATE" --role jobs --password-file "$FILE" >/dev/null
new="$(<"$FILE")"
[[ "$new" != "$old" ]] || fail "admin rotation did not write a new password"
if ! can_login "$new" || can_login "$old"; then fail "admin rotation: wrong login results"; fi
pass "admin rotates another role"

# 3. failure changes nothing
if PGUSER=postgres PGPASSWORD=wrong "$ROTATE" --role jobs --password-file "$FILE" >/dev/null 2>&1; then
  fail "rotation with a wrong admin password succeeded"
fi
if [[ "$(<"$FILE")" != "$new" ]] || ! can_login "$new"; then fail "failed rotation changed the password"; fi
[[ -z "$(find "$TMP/secrets" -name 'password.new.*')" ]] || fail "failed rotation left a temporary file"
pass "failed ALTER ROLE leaves database and file unchanged"

# 4. no clear text in the server log
grep -q 'ALTER ROLE' "$TMP/run/server.log" || fail "statement logging is off; check 4 would prove nothing"
for pw in "$old" "$new"; do
  ! grep -qF "$pw" "$TMP/run/server.log" || fail "a clear-text password appears in the server log"
done
pass "server log holds SCRAM verifiers only"

# 5. clients that re-read the file on an authentication failure see no failed request
client() {
  local end=$((SECONDS + CLIENT_SECONDS)) ok=0 retried=0 failed=0
  while [[ $SECONDS -lt $end ]]; do
    if can_login "$(<"$FILE")"; then
      ok=$((ok + 1))
    else
      retried=$((retried + 1)); sleep 0.2
      if can_login "$(<"$FILE")"; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
    fi
    sleep 0.02
  done
  echo "$ok $retried $failed"
}
client >"$TMP/client.out" &
CLIENT_PID=$!
for _ in $(seq "$ROTATIONS"); do
  sleep 1
  PGUSER=postgres PGPASSWORD="$ADMIN_PASSWORD" "$ROTATE" --role jobs --password-file "$FILE" >/dev/null
done
wait "$CLIENT_PID"
read -r ok retried failed <"$TMP/client.out"
[[ "$ok" -gt 50 ]] || fail "client loop made only $ok requests"
[[ "$failed" -eq 0 ]] || fail "$failed client requests failed after a retry during $ROTATIONS rotations"
pass "$ROTATIONS rotations under a client loop: $ok requests ok, $retried needed a retry, 0 failed"

echo "rotate-db-password: 5 passed, 0 failed"
