#!/usr/bin/env bash
# Rotate a PostgreSQL role's password and write the new value to the secret store.
#
#   PGHOST=127.0.0.1 PGPORT=5432 PGUSER=jobs \
#     pipelines/rotate-db-password.sh --password-file /path/to/password [--role jobs]
#
# Order (docs/adr/0003-external-secrets-for-secrets.md):
#   1. generate a random password (32 bytes, URL-safe) and its SCRAM-SHA-256 verifier locally;
#      the server receives only the verifier, so the clear text never appears in its logs,
#      pg_stat_activity or anyone's process list
#   2. ALTER ROLE ... PASSWORD '<verifier>'            (nothing changed if this fails)
#   3. write the store: the password file is replaced atomically (rename in the same folder,
#      mode 0600), or, with --store kubernetes, the store Secret is updated and the
#      ExternalSecret is asked to sync at once
#   4. log in as the role with the new password; if that fails and the old password is known,
#      put the old one back in the database and the store
# Services that read the file on (re)connect pick the new value up without a restart. Between
# steps 2 and 3 new connections with the old password fail: locally a few milliseconds, in a
# cluster the ESO sync plus the kubelet's Secret refresh (see the ADR).
#
# Authentication for step 2, in this order: PGPASSWORD / PGPASSFILE / ~/.pgpass as libpq does; if
# none is set and PGUSER is the role being rotated, the current password from --password-file
# (a role may always change its own password).
#
# Options:
#   --password-file PATH   file holding the current password; receives the new one (store "file")
#   --role NAME            role to rotate (default: $PGUSER)
#   --database NAME        database to connect to (default: $PGDATABASE, else "postgres")
#   --store file|kubernetes
#                          where the new value goes (default: file). "kubernetes" writes the Secret
#                          $STORE_SECRET in $STORE_NAMESPACE (the store behind the ClusterSecretStore
#                          portcullis-store) with kubectl and bumps force-sync on the ExternalSecret
#                          $EXTERNAL_SECRET ("namespace/name"); --password-file is then optional and,
#                          if given, also receives the new value.
# Environment: PGHOST, PGPORT, PGUSER (required); STORE_NAMESPACE (secret-store),
#   STORE_SECRET (jobs-db), EXTERNAL_SECRET (jobs/jobs-db).
# For a cluster, reach the database with `kubectl -n jobs port-forward pod/postgres-0 15432:5432`
# (port-forward is not subject to NetworkPolicy) and use the superuser:
#   PGHOST=127.0.0.1 PGPORT=15432 PGUSER=postgres PGPASSWORD=... --role jobs --store kubernetes
set -euo pipefail

usage() { sed -n '2,/^set -euo pipefail/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "rotate-db-password: $*" >&2; exit 1; }

PASSWORD_FILE="" ROLE="" DATABASE="" STORE="file"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --password-file) PASSWORD_FILE="${2:?}"; shift 2 ;;
    --role) ROLE="${2:?}"; shift 2 ;;
    --database) DATABASE="${2:?}"; shift 2 ;;
    --store) STORE="${2:?}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

: "${PGHOST:?set PGHOST}" "${PGPORT:?set PGPORT}" "${PGUSER:?set PGUSER}"
export PGHOST PGPORT PGUSER
ROLE="${ROLE:-$PGUSER}"
DATABASE="${DATABASE:-${PGDATABASE:-postgres}}"
STORE_NAMESPACE="${STORE_NAMESPACE:-secret-store}"
STORE_SECRET="${STORE_SECRET:-jobs-db}"
EXTERNAL_SECRET="${EXTERNAL_SECRET:-jobs/jobs-db}"
case "$STORE" in
  file) [[ -n "$PASSWORD_FILE" ]] || die "--password-file is required with --store file" ;;
  kubernetes) command -v kubectl >/dev/null || die "--store kubernetes needs kubectl" ;;
  *) die "--store must be file or kubernetes" ;;
esac
for tool in psql python3 flock; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

umask 077
NEW_FILE="" OLD_PASSWORD=""
cleanup() { [[ -z "$NEW_FILE" ]] || rm -f "$NEW_FILE"; }
trap cleanup EXIT

if [[ -n "$PASSWORD_FILE" ]]; then
  dir="$(dirname "$PASSWORD_FILE")"
  [[ -d "$dir" && -w "$dir" ]] || die "cannot write in $dir"
  # One rotation at a time per password file.
  exec 9>"$PASSWORD_FILE.lock"
  flock -w 30 9 || die "another rotation holds $PASSWORD_FILE.lock"
  if [[ -f "$PASSWORD_FILE" ]]; then
    OLD_PASSWORD="$(<"$PASSWORD_FILE")"
  fi
fi

# Authentication for the ALTER ROLE connection (never on a command line).
SELF_AUTH=""
if [[ -z "${PGPASSWORD:-}" && -z "${PGPASSFILE:-}" && "$PGUSER" == "$ROLE" && -n "$OLD_PASSWORD" ]]; then
  export PGPASSWORD="$OLD_PASSWORD"
  SELF_AUTH=1
fi

# scram_verifier: stdin = password, stdout = SCRAM-SHA-256 verifier in PostgreSQL's format
# (SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, RFC 5802/7677).
scram_verifier() {
  # shellcheck disable=SC2016 # Python source, not a shell expansion
  python3 -c '
import base64, hashlib, hmac, os, sys
password = sys.stdin.read().rstrip("\n").encode()
salt, iterations = os.urandom(16), 4096
salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
client_key = hmac.new(salted, b"Client Key", "sha256").digest()
server_key = hmac.new(salted, b"Server Key", "sha256").digest()
b64 = lambda b: base64.b64encode(b).decode()
print(f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}")
'
}

# set_role_password VERIFIER: ALTER ROLE over the admin connection; secrets travel on stdin.
set_role_password() {
  psql -X -q -v ON_ERROR_STOP=1 -v role="$ROLE" -d "$DATABASE" <<SQL
\\set verifier '$1'
ALTER ROLE :"role" PASSWORD :'verifier';
SQL
}

# write_store PASSWORD_FILE_CONTENT_PATH: publish the value in the configured store.
write_store() {
  local src="$1"
  if [[ "$STORE" == kubernetes ]]; then
    kubectl -n "$STORE_NAMESPACE" create secret generic "$STORE_SECRET" \
      --from-file=password="$src" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
    kubectl -n "${EXTERNAL_SECRET%%/*}" annotate externalsecret "${EXTERNAL_SECRET#*/}" \
      force-sync="$(date +%s)" --overwrite >/dev/null
  fi
  if [[ -n "$PASSWORD_FILE" ]]; then
    # rename(2) within one folder is atomic: readers see the old or the new file, never half.
    if [[ "$src" == "$NEW_FILE" ]]; then
      mv -f "$NEW_FILE" "$PASSWORD_FILE"
      NEW_FILE=""
    else
      cp "$src" "$PASSWORD_FILE.tmp" && mv -f "$PASSWORD_FILE.tmp" "$PASSWORD_FILE"
    fi
  fi
}

# 1. new password, written next to the target before anything changes
NEW_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
if [[ -n "$PASSWORD_FILE" ]]; then
  NEW_FILE="$(mktemp "$PASSWORD_FILE.new.XXXXXX")"
else
  NEW_FILE="$(mktemp)"
fi
printf '%s' "$NEW_PASSWORD" >"$NEW_FILE"
VERIFIER="$(printf '%s' "$NEW_PASSWORD" | scram_verifier)"

# 2. database
set_role_password "$VERIFIER" || die "ALTER ROLE $ROLE failed on $PGHOST:$PGPORT; nothing was changed"

# 3. store
write_store "$NEW_FILE" || die "role $ROLE has a NEW password but writing the store failed; rerun to rotate again"

# 4. verify as the role itself, with nothing but the new password
if ! PGPASSWORD="$NEW_PASSWORD" PGPASSFILE=/dev/null PGUSER="$ROLE" \
  psql -X -q -w -d "$DATABASE" -tAc 'SELECT 1' >/dev/null; then
  if [[ -n "$OLD_PASSWORD" ]]; then
    echo "rotate-db-password: login with the new password failed; restoring the old one" >&2
    OLD_FILE="$(mktemp "$PASSWORD_FILE.old.XXXXXX")"
    printf '%s' "$OLD_PASSWORD" >"$OLD_FILE"
    # A role rotating itself now authenticates with the new password.
    [[ -z "$SELF_AUTH" ]] || export PGPASSWORD="$NEW_PASSWORD"
    set_role_password "$(printf '%s' "$OLD_PASSWORD" | scram_verifier)"
    write_store "$OLD_FILE"
    rm -f "$OLD_FILE"
    die "rotation of $ROLE rolled back (check pg_hba.conf for password logins of $ROLE to $DATABASE)"
  fi
  die "login as $ROLE with the new password failed and the old password is unknown; check pg_hba.conf"
fi

target="${PASSWORD_FILE:-}"
[[ "$STORE" == kubernetes ]] && target="secret $STORE_NAMESPACE/$STORE_SECRET (ExternalSecret $EXTERNAL_SECRET)${PASSWORD_FILE:+ and $PASSWORD_FILE}"
echo "rotated password of role $ROLE on $PGHOST:$PGPORT; new value in $target"
