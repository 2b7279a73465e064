# shellcheck shell=bash
# pipelines/lib/drill.sh: what every disaster-recovery drill in pipelines/drills/ shares.
#
# pipelines/drill.sh runs each drill as its own process (`bash pipelines/drills/NAME.sh`), which
# sources this file first. Provides, besides pipelines/lib/common.sh:
#   DRILL, DRILL_DIR  the drill's name and its scratch folder .work/drills/NAME (emptied first)
#   BIN_DIR, BIN, EXAMPLES  the built binaries (rehearse), the portcullis CLI, the testkit's examples:
#                     $PORTCULLIS_BIN_DIR (default target/debug); a drill never builds, it
#                     calls need_bins to fail early, naming the build command
#   step TEXT         one line per step, with the time since the drill started
#   figure KEY VALUE  a measured figure, printed now and repeated on the PASS line
#   now_ms / since S  wall clock in ms; seconds (3 decimals) from S (ms) to now
#   wait_for SECS CMD…  run CMD every 0.1 s until it succeeds, at most SECS seconds (non-zero then)
#   wait_http URL [curl args…]  wait_for 20 s on an HTTP answer
#   drill_pass        last: "PASS drill/NAME (figures…, Ns)" and exit 0
# On any other exit (a failed command under set -e, or die REASON) the drill prints
# "FAIL drill/NAME: REASON" and exits non-zero; either way every PID in PIDS is stopped.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DRILL="$(basename "$0" .sh)"
DRILL_DIR="$PORTCULLIS_WORK/drills/$DRILL"
BIN_DIR="${PORTCULLIS_BIN_DIR:-$PORTCULLIS_ROOT/target/debug}"
BIN="$BIN_DIR/portcullis"
EXAMPLES="$BIN_DIR/examples"
_log_tag="drill/$DRILL"

FIGURES=()
_drill_t0="$(date +%s%3N)"
_drill_step="setup"
_drill_passed=0
_drill_reason=""

now_ms() { date +%s%3N; }
since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.3f", (b - a) / 1000 }'; }

step() {
    _drill_step="$*"
    printf 'drill/%s: [%7ss] %s\n' "$DRILL" "$(since "$_drill_t0")" "$*"
}

figure() {
    FIGURES+=("$1 $2")
    printf 'drill/%s:            %-28s %s\n' "$DRILL" "$1" "$2"
}

die() {
    _drill_reason="$*"
    printf 'drill/%s: error: %s\n' "$DRILL" "$*" >&2
    exit 1
}

wait_for() {
    local secs="$1" i
    shift
    for ((i = 0; i < secs * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

wait_http() {
    local url="$1"
    shift
    wait_for 20 curl -fsS -o /dev/null "$@" "$url" || die "nothing answered at $url within 20 s"
}

drill_pass() {
    local out="" f
    for f in "${FIGURES[@]}"; do out+="${out:+, }$f"; done
    _drill_passed=1
    printf 'PASS drill/%s (%s, %ss)\n' "$DRILL" "$out" "$(since "$_drill_t0" | cut -d. -f1)"
    exit 0
}

_drill_exit() {
    local rc=$?
    stop_pids
    if [[ $_drill_passed -eq 0 ]]; then
        printf 'FAIL drill/%s: %s\n' "$DRILL" "${_drill_reason:-step \"$_drill_step\" failed (exit status $rc)}"
        [[ $rc -ne 0 ]] || rc=1
    fi
    exit "$rc"
}
trap _drill_exit EXIT

# need_bins: the drill uses the portcullis CLI and the testkit's examples; say how to get them.
need_bins() {
    [[ -x $BIN && -x $EXAMPLES/push_image ]] ||
        die "$BIN or $EXAMPLES/push_image is missing: cargo build -p portcullis-webhook -p portcullis-testkit --bins --example push_image (or set PORTCULLIS_BIN_DIR)"
}

rm -rf "$DRILL_DIR"
mkdir -p "$DRILL_DIR"
