#!/usr/bin/env bash
# pipelines/lab.sh: the course's security labs (docs/course/labs/NN-name/).
#
#   pipelines/lab.sh start NN     a fresh start state in .work/labs/NN-name (make lab-start LAB=NN)
#   pipelines/lab.sh check NN     judge the workspace: one line per thing still wrong (make lab-check)
#   pipelines/lab.sh solve NN     apply the reference solution to the workspace (make lab-solve)
#   pipelines/lab.sh stop NN      stop what the lab started (registry, webhook…), by PID (make lab-stop)
#   pipelines/lab.sh wrong NN W   apply the plausible wrong answer wrong/W.sh to the workspace
#   pipelines/lab.sh ci [NN…]     every lab (or those named) three ways, as make test runs them:
#                                 start → check must fail; start → each wrong answer → check must
#                                 fail, saying what its "# expect:" line says; start → solve →
#                                 check must pass. One PASS/FAIL line per lab, with its time.
#
# A lab folder holds README.md (instructions), hints.md (graded hints), start.sh, check.sh,
# solve.sh and wrong/*.sh; its scripts source pipelines/lib/lab.sh (the contract is there).
# PORTCULLIS_BIN_DIR=DIR uses DIR/portcullis and DIR/examples/ instead of building them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/venv.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/venv.sh"

LABS_DIR="$PORTCULLIS_ROOT/docs/course/labs"

usage() { die "usage: pipelines/lab.sh start|check|solve|stop NN | wrong NN NAME | ci [NN…]"; }

# lab_folder NN: the lab's folder name (NN-name).
lab_folder() {
    local want="$1" found=()
    [[ $want =~ ^[0-9]+$ ]] && want="$(printf '%02d' "$((10#$want))")"
    for d in "$LABS_DIR/$want"-*/ "$LABS_DIR/$want/"; do
        [[ -f $d/check.sh ]] && found+=("$(basename "$d")")
    done
    [[ ${#found[@]} -eq 1 ]] || die "no lab $1 (labs: $(all_labs | tr '\n' ' '))"
    echo "${found[0]}"
}

all_labs() {
    local d
    for d in "$LABS_DIR"/[0-9][0-9]-*/; do [[ -f $d/check.sh ]] && basename "$d"; done
}

binaries() {
    if [[ -n ${PORTCULLIS_BIN_DIR:-} ]]; then
        # Absolute: the lab's scripts run in the student's workspace.
        local dir
        dir="$(cd "$PORTCULLIS_BIN_DIR" && pwd)" || die "PORTCULLIS_BIN_DIR=$PORTCULLIS_BIN_DIR is not a folder"
        LAB_BIN="$dir/portcullis" LAB_EXAMPLES="$dir/examples"
    else
        (cd "$PORTCULLIS_ROOT" && cargo build -q --locked -p portcullis-webhook -p portcullis-testkit \
            -p portcullis-rehearsal --bins --example push_image --example sigstore_sign)
        LAB_BIN="$PORTCULLIS_ROOT/target/debug/portcullis" LAB_EXAMPLES="$PORTCULLIS_ROOT/target/debug/examples"
    fi
    [[ -x $LAB_BIN ]] || die "no portcullis CLI at $LAB_BIN"
    ensure_venv
    COSIGN="$PORTCULLIS_WORK/tools/bin/cosign"
    export LAB_BIN LAB_EXAMPLES COSIGN
}

# run LAB SCRIPT [ARGS…]: one of the lab's scripts, with the lab's environment.
run() {
    local lab="$1" script="$2"
    shift 2
    LAB="$lab" LAB_DIR="$LABS_DIR/$lab" LAB_HOME="${LAB_HOME:-$PORTCULLIS_WORK/labs/$lab}" \
        bash "$LABS_DIR/$lab/$script" "$@"
}

home() { echo "${LAB_HOME:-$PORTCULLIS_WORK/labs/$1}"; }

stop() { # LAB: stop its processes (lab_stop, from a shell that has the lab's environment)
    local lab="$1"
    [[ -d $(home "$lab") ]] || return 0
    LAB="$lab" LAB_DIR="$LABS_DIR/$lab" LAB_HOME="$(home "$lab")" \
        bash -c '. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh" && lab_stop'
}

start() {
    local lab="$1" h
    h="$(home "$lab")"
    stop "$lab"
    rm -rf "$h"
    mkdir -p "$h"
    run "$lab" start.sh
}

# ci_one LAB: prints PASS/FAIL; the details are in .work/test/labs/LAB.log.
ci_one() {
    local lab="$1" log="$PORTCULLIS_WORK/test/labs/$1.log" t0=$SECONDS rc out problems=() wrongs=0 w expect
    mkdir -p "$(dirname "$log")"
    : >"$log"
    # check_must FAIL|PASS [EXPECT]: runs check.sh, appends its output to the log.
    check_must() {
        rc=0
        out="$(run "$lab" check.sh 2>&1)" || rc=$?
        printf '%s\n[check exit %d]\n' "$out" "$rc" >>"$log"
        case "$1" in
            PASS) [[ $rc -eq 0 ]] || problems+=("$2: check did not pass (exit $rc)") ;;
            FAIL)
                if [[ $rc -ne 1 ]] || ! grep -q ': still wrong: ' <<<"$out"; then
                    problems+=("$2: check did not reject it with a finding (exit $rc)")
                elif [[ -n ${3:-} ]] && ! grep -qF -- "$3" <<<"$out"; then
                    problems+=("$2: rejected, but no finding says \"$3\"")
                fi
                ;;
        esac
    }
    step() { # NAME SCRIPT…: a setup step; its failure is a problem of the lab
        local name="$1"
        shift
        echo "== $name" >>"$log"
        if ! "$@" >>"$log" 2>&1; then problems+=("$name failed"); return 1; fi
    }
    if step start start "$lab"; then check_must FAIL "start state"; fi
    for w in "$LABS_DIR/$lab"/wrong/*.sh; do
        [[ -f $w ]] || continue
        wrongs=$((wrongs + 1))
        expect="$(sed -n 's/^# expect: //p' "$w" | head -n 1)"
        [[ -n $expect ]] || problems+=("wrong/$(basename "$w") has no '# expect:' line")
        if step start start "$lab" && step "wrong/$(basename "$w")" run "$lab" "wrong/$(basename "$w")"; then
            check_must FAIL "wrong/$(basename "$w" .sh)" "$expect"
        fi
    done
    [[ $wrongs -gt 0 ]] || problems+=("no plausible wrong answer (wrong/*.sh)")
    for w in README.md hints.md solve.sh start.sh; do
        [[ -f $LABS_DIR/$lab/$w ]] || problems+=("no $w")
    done
    if step start start "$lab" && step solve run "$lab" solve.sh; then check_must PASS "reference solution"; fi
    stop "$lab" >>"$log" 2>&1 || true
    local took=$((SECONDS - t0))
    if [[ ${#problems[@]} -eq 0 ]]; then
        echo "PASS lab/$lab: start fails, $wrongs wrong answer(s) rejected, solution passes (${took}s)"
    else
        echo "FAIL lab/$lab (${took}s): $(printf '%s; ' "${problems[@]}")see ${log#"$PORTCULLIS_ROOT"/}"
        return 1
    fi
}

main() {
    [[ $# -ge 1 ]] || usage
    local action="$1" lab
    shift
    # The lab's name is checked before anything is built; stopping needs no binary.
    case "$action" in
        start | check | solve | stop | wrong) [[ $# -ge 1 ]] && lab_folder "$1" >/dev/null ;;
    esac
    [[ $action == stop ]] || binaries
    case "$action" in
        start | check | solve | stop)
            [[ $# -eq 1 ]] || usage
            lab="$(lab_folder "$1")"
            case "$action" in
                start)
                    start "$lab"
                    echo "lab ${lab%%-*}: ready in $(home "$lab"); instructions: docs/course/labs/$lab/README.md"
                    ;;
                stop) stop "$lab" ;;
                *) run "$lab" "$action.sh" ;;
            esac
            ;;
        wrong)
            [[ $# -eq 2 ]] || usage
            lab="$(lab_folder "$1")"
            run "$lab" "wrong/$2.sh"
            ;;
        ci)
            local labs=() failed=0
            if [[ $# -gt 0 ]]; then
                for lab in "$@"; do labs+=("$(lab_folder "$lab")"); done
            else
                mapfile -t labs < <(all_labs)
            fi
            [[ ${#labs[@]} -gt 0 ]] || die "no labs under $LABS_DIR"
            for lab in "${labs[@]}"; do ci_one "$lab" || failed=$((failed + 1)); done
            [[ $failed -eq 0 ]]
            ;;
        *) usage ;;
    esac
}

main "$@"
