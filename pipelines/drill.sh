#!/usr/bin/env bash
# pipelines/drill.sh: disaster-recovery drills, run on this machine, with measured figures.
#
#   pipelines/drill.sh NAME   one drill (make drill NAME=…)
#   pipelines/drill.sh all    every drill, in order (make drills)
#   pipelines/drill.sh list   the drills' names
#
# Each drill is pipelines/drills/NAME.sh, run as its own process: it prints its steps and figures
# and ends with one line, `PASS drill/NAME (figures…, Ns)` or `FAIL drill/NAME: reason`; its files
# are in .work/drills/NAME; everything it starts is stopped by PID when it ends. The playbook the
# drills rehearse is docs/runbooks/disaster-recovery.md.
# Binaries: built first (portcullis, rehearse, the testkit's push_image; a no-op after `make test`'s
# build), unless PORTCULLIS_BIN_DIR=DIR names a folder holding them (DIR/examples/push_image).
# Exit status: non-zero when any drill failed (a drill that dies without its FAIL line gets one).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/venv.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/venv.sh"

DRILLS_DIR="$PORTCULLIS_ROOT/pipelines/drills"

names() { find "$DRILLS_DIR" -maxdepth 1 -name '*.sh' -printf '%f\n' | sed 's/\.sh$//' | sort; }

usage() {
    echo "usage: pipelines/drill.sh NAME|all|list   (drills: $(names | tr '\n' ' '))" >&2
    exit 2
}

# run_one NAME: the drill's output shown; a FAIL line added if it exited non-zero without one.
run_one() {
    local name="$1" rc=0 out="$PORTCULLIS_WORK/drills/$1.log"
    mkdir -p "$PORTCULLIS_WORK/drills"
    bash "$DRILLS_DIR/$name.sh" 2>&1 | tee "$out" || rc=$?
    if [[ $rc -ne 0 ]] && ! grep -q "^FAIL drill/$name" "$out"; then
        echo "FAIL drill/$name: exited with status $rc (log: ${out#"$PORTCULLIS_ROOT"/})"
    fi
    if [[ $rc -eq 0 ]] && ! grep -q "^PASS drill/$name " "$out"; then
        echo "FAIL drill/$name: exited 0 without a PASS line (log: ${out#"$PORTCULLIS_ROOT"/})"
        rc=1
    fi
    return "$rc"
}

binaries() {
    if [[ -z ${PORTCULLIS_BIN_DIR:-} ]]; then
        (cd "$PORTCULLIS_ROOT" && cargo build -q --locked -p portcullis-webhook -p portcullis-testkit -p portcullis-rehearsal --bins \
            --example push_image)
        export PORTCULLIS_BIN_DIR="$PORTCULLIS_ROOT/target/debug"
    fi
    ensure_venv # PyYAML for pipelines/py/apiserver_admit.py
}

main() {
    [[ $# -eq 1 ]] || usage
    case "$1" in
    list) names ;;
    all)
        local name failed=0 start=$SECONDS
        binaries
        for name in $(names); do
            run_one "$name" || failed=$((failed + 1))
        done
        log "$(names | wc -l) drills, $failed failed, $((SECONDS - start))s"
        [[ $failed -eq 0 ]]
        ;;
    *)
        [[ $1 =~ ^[a-z0-9-]+$ && -f $DRILLS_DIR/$1.sh ]] || {
            echo "drill: no drill named '$1'" >&2
            usage
        }
        binaries
        run_one "$1"
        ;;
    esac
}

main "$@"
