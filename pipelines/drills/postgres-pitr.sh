#!/usr/bin/env bash
# Drill postgres-pitr: the jobs database is lost after an accidental DELETE; restore it to the
# moment before the DELETE from a base backup and the WAL archive (point-in-time recovery).
#
#   1. A real PostgreSQL 15 with WAL archiving (archive_command copies each segment to an archive
#      folder, as a backup agent would ship it to object storage) and commit timestamps on.
#   2. A base backup (pg_basebackup), then a bounded writer: one row per transaction, each
#      acknowledged with its id and commit timestamp (the ledger the figures are checked against).
#      Between two of its transactions an "accidental" DELETE FROM orders commits; the writer
#      carries on.
#   3. Disaster: the server stops and its data directory is deleted.
#   4. Recovery as an operator does it, from the archive alone: pg_waldump finds the transaction
#      that deleted rows of the table and its commit time; that is the recovery target
#      (recovery_target_time, inclusive = off: stop just before it). The base backup is copied
#      back with recovery.signal and restore_command, replayed, promoted.
# Figures: RTO (disaster -> promoted server answering queries), RPO (recovery target - last row
# committed before it), rows committed before the target, rows recovered, rows lost.
# Fails unless every row committed before the target is back, the DELETE is undone, and nothing
# committed after the target was replayed. The server listens on a Unix socket in a private folder
# only (trust authentication there; no TCP listener). As root it runs as the postgres OS user,
# which PostgreSQL requires (as workloads/common/src/testing/postgres.rs does).
# shellcheck source-path=SCRIPTDIR source=../lib/drill.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/drill.sh"

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
ROWS="${DRILL_PG_ROWS:-200}"        # rows the writer commits in all
ACCIDENT_AT="${DRILL_PG_ACCIDENT:-150}" # the DELETE commits after this many rows
DATA="$DRILL_DIR/data" ARCHIVE="$DRILL_DIR/archive" BACKUP="$DRILL_DIR/backup" RUN="$DRILL_DIR/run"
PORT=5432 # only names the socket file in $RUN
PG_PID=""

[[ -x $PG_BIN/initdb && -x $PG_BIN/postgres ]] ||
    die "PostgreSQL 15 server binaries not found in $PG_BIN: run make bootstrap (postgresql-15), or set PG_BIN"

# As root, every PostgreSQL program runs as the postgres OS user (setpriv execs it: a background
# server's PID is the postmaster's own).
AS_PG=()
[[ $(id -u) -ne 0 ]] || AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups)
as_pg() { "${AS_PG[@]}" "$@"; }
sql() { as_pg "$PG_BIN/psql" -h "$RUN" -p "$PORT" -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 "$@"; }

start_pg() {
    "${AS_PG[@]}" "$PG_BIN/postgres" -D "$DATA" -p "$PORT" -k "$RUN" -c listen_addresses= >>"$DRILL_DIR/postgres.log" 2>&1 &
    PG_PID=$!
    PIDS+=("$PG_PID")
}

stop_pg() {
    kill -INT "$PG_PID"
    wait "$PG_PID" || true
    local -a left=()
    local p
    for p in "${PIDS[@]}"; do [[ $p == "$PG_PID" ]] || left+=("$p"); done
    PIDS=("${left[@]}")
}

# shellcheck disable=SC2329 # called through wait_for
answers() { [[ $(sql -c 'SELECT NOT pg_is_in_recovery()' 2>/dev/null) == t ]]; }

setup() {
    step "initdb, WAL archiving to $(basename "$ARCHIVE")/, commit timestamps on"
    mkdir -p "$DATA" "$ARCHIVE" "$BACKUP" "$RUN"
    chmod 755 "$DRILL_DIR"
    chmod 700 "$DATA" "$BACKUP"
    [[ $(id -u) -ne 0 ]] || chown postgres:postgres "$DATA" "$ARCHIVE" "$BACKUP" "$RUN"
    as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --wal-segsize=1 --no-sync >"$DRILL_DIR/initdb.log" 2>&1 ||
        die "initdb failed (see ${DRILL_DIR#"$PORTCULLIS_ROOT"/}/initdb.log)"
    cat >>"$DATA/postgresql.conf" <<EOF
wal_level = replica
archive_mode = on
archive_command = 'test ! -f $ARCHIVE/%f && cp %p $ARCHIVE/%f'
track_commit_timestamp = on
EOF
    start_pg
    wait_for 20 answers || die "PostgreSQL did not start (see ${DRILL_DIR#"$PORTCULLIS_ROOT"/}/postgres.log)"
    sql -c 'CREATE TABLE orders (id bigserial PRIMARY KEY, payload text NOT NULL)'
}

base_backup() {
    step "base backup (pg_basebackup -X stream -c fast)"
    local t
    t="$(now_ms)"
    as_pg "$PG_BIN/pg_basebackup" -h "$RUN" -p "$PORT" -U postgres -D "$BACKUP" -X stream -c fast
    figure "base backup" "$(since "$t")s"
}

# The writer's script: one INSERT per transaction, then its id and commit timestamp (epoch
# seconds) as "row|ID|EPOCH"; the accidental DELETE after $ACCIDENT_AT rows, as "accident|XID".
writer_script() {
    local i
    for ((i = 1; i <= ROWS; i++)); do
        printf "INSERT INTO orders (payload) VALUES ('order %d');\n" "$i"
        printf "SELECT 'row', id, extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM orders WHERE id = currval('orders_id_seq');\n"
        printf 'SELECT pg_sleep(0.005);\n'
        if ((i == ACCIDENT_AT)); then
            printf "BEGIN; DELETE FROM orders; SELECT 'accident', txid_current(); COMMIT;\n"
        fi
    done
}

write_and_break() {
    step "writer: $ROWS rows, one per transaction; an accidental DELETE FROM orders after row $ACCIDENT_AT"
    writer_script | sql -F '|' >"$DRILL_DIR/ledger.txt"
    local rows
    rows="$(grep -c '^row|' "$DRILL_DIR/ledger.txt" || true)"
    [[ $rows -eq $ROWS ]] || die "the writer acknowledged $rows of $ROWS rows"
    ACCIDENT_XID="$(awk -F'|' '$1 == "accident" { print $2 }' "$DRILL_DIR/ledger.txt")"
    [[ -n $ACCIDENT_XID ]] || die "the accidental DELETE did not commit"
    [[ $(sql -c 'SELECT count(*) FROM orders') -eq $((ROWS - ACCIDENT_AT)) ]] ||
        die "after the DELETE the table should hold only the $((ROWS - ACCIDENT_AT)) later rows"
    RELFILENODE="$(sql -c "SELECT pg_relation_filenode('orders')")"
    local seg
    seg="$(sql -c 'SELECT pg_walfile_name(pg_current_wal_lsn())')"
    sql -c 'SELECT pg_switch_wal()' >/dev/null
    wait_for 30 test -f "$ARCHIVE/$seg" || die "WAL segment $seg never reached the archive"
    step "WAL archived up to segment $seg ($(find "$ARCHIVE" -type f | wc -l) files)"
}

# Operator's view: the first transaction in the archive that deleted rows of orders; prints
# "XID|COMMIT-TIME" (commit time as pg_waldump prints it, e.g. 2026-12-03 15:50:01.123456 UTC).
find_target() {
    local first last
    first="$(find "$ARCHIVE" -type f -name '[0-9A-F]*' ! -name '*.*' -printf '%f\n' | sort | head -n 1)"
    last="$(find "$ARCHIVE" -type f -name '[0-9A-F]*' ! -name '*.*' -printf '%f\n' | sort | tail -n 1)"
    "$PG_BIN/pg_waldump" -p "$ARCHIVE" "$first" "$last" 2>/dev/null | awk -v rel="/$RELFILENODE " '
        done { next }
        !xid && /rmgr: Heap / && /desc: DELETE/ && index($0, rel) { match($0, /tx: *[0-9]+/); xid = substr($0, RSTART + 4) + 0 }
        xid && /rmgr: Transaction/ && $0 ~ ("tx: *" xid ",") && /desc: COMMIT/ {
            sub(/.*desc: COMMIT /, ""); sub(/;.*/, ""); print xid "|" $0; done = 1
        }'
}

restore() {
    local t_disaster target xid when
    step "disaster: stop the server, delete its data directory"
    t_disaster="$(now_ms)"
    stop_pg
    rm -rf "$DATA"

    step "find the recovery target in the WAL archive (pg_waldump)"
    target="$(find_target)"
    [[ -n $target ]] || die "pg_waldump found no transaction deleting rows of orders in the archive"
    xid="${target%%|*}" when="${target#*|}"
    [[ $xid == "$ACCIDENT_XID" ]] || die "the archive names transaction $xid, the DELETE was $ACCIDENT_XID"
    step "target: just before transaction $xid (the DELETE), committed $when"

    step "restore the base backup, replay the archive to the target, promote"
    mkdir -p "$DATA"
    cp -a "$BACKUP/." "$DATA/"
    chmod 700 "$DATA"
    [[ $(id -u) -ne 0 ]] || chown -R postgres:postgres "$DATA"
    cat >>"$DATA/postgresql.conf" <<EOF
restore_command = 'cp $ARCHIVE/%f %p'
recovery_target_time = '$when'
recovery_target_inclusive = off
recovery_target_action = 'promote'
EOF
    touch "$DATA/recovery.signal"
    start_pg
    wait_for 60 answers || die "the restored server was not promoted within 60 s (see ${DRILL_DIR#"$PORTCULLIS_ROOT"/}/postgres.log)"
    RTO="$(since "$t_disaster")"
    TARGET_EPOCH="$(sql -c "SELECT extract(epoch FROM timestamptz '$when')")"
}

verify() {
    step "compare the restored table with the writer's ledger"
    awk -F'|' -v t="$TARGET_EPOCH" '$1 == "row" && $3 < t { print $2 }' "$DRILL_DIR/ledger.txt" | sort >"$DRILL_DIR/before.txt"
    awk -F'|' -v t="$TARGET_EPOCH" '$1 == "row" && $3 >= t { print $2 }' "$DRILL_DIR/ledger.txt" | sort >"$DRILL_DIR/after.txt"
    sql -c 'SELECT id FROM orders' | sort >"$DRILL_DIR/recovered.txt"
    local before recovered lost replayed last rpo
    before="$(wc -l <"$DRILL_DIR/before.txt")"
    recovered="$(wc -l <"$DRILL_DIR/recovered.txt")"
    lost="$(comm -23 "$DRILL_DIR/before.txt" "$DRILL_DIR/recovered.txt" | wc -l)"
    replayed="$(comm -12 "$DRILL_DIR/after.txt" "$DRILL_DIR/recovered.txt" | wc -l)"
    last="$(awk -F'|' -v t="$TARGET_EPOCH" '$1 == "row" && $3 < t && $3 > m { m = $3 } END { print m }' "$DRILL_DIR/ledger.txt")"
    rpo="$(awk -v a="$last" -v b="$TARGET_EPOCH" 'BEGIN { printf "%.3f", b - a }')"
    figure RTO "${RTO}s"
    figure RPO "${rpo}s"
    figure "rows before target" "$before"
    figure "rows recovered" "$recovered"
    figure "rows lost" "$lost"
    figure "rows after target" "$(wc -l <"$DRILL_DIR/after.txt") (not replayed, by design)"
    [[ $before -eq $ACCIDENT_AT ]] || die "the ledger has $before rows before the target, expected $ACCIDENT_AT"
    [[ $lost -eq 0 ]] || die "$lost rows committed before the recovery target are missing after recovery"
    [[ $recovered -eq $before ]] || die "the DELETE is not undone: $recovered rows recovered, $before committed before it"
    [[ $replayed -eq 0 ]] || die "$replayed rows committed after the target were replayed: recovery went past the target"
}

setup
base_backup
write_and_break
restore
verify
stop_pg
drill_pass
