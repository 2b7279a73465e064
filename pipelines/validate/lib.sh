# shellcheck shell=bash
# pipelines/validate/lib.sh: what the manifest checks in this folder share, and the PASS/FAIL/SKIP
# harness that pipelines/validate-manifests.sh runs them with.
#
# A check is one script, pipelines/validate/NAME.sh, runnable alone (after render.sh, for the
# checks that read the renderings). It prints what it finds, ends with one line
# "summary: ..." and exits 0 (pass), 77 (skipped, the summary says why) or anything else (fail).
#
# Source it (it defines variables and functions and changes to $ROOT; it runs nothing else):
#   ROOT       the tree under check (VALIDATE_ROOT, default the repository); checks run from it
#   WORK       where renderings and artefacts go (VALIDATE_WORK, default .work/validate-manifests)
#   SCHEMAS    folder holding crds/<group>/<kind>_<version>.json
#   PY_DIR     the checks' Python modules (pipelines/validate/py); PY runs the venv's python
#   renderings / need_renderings   the rendered files, or a failing summary when there are none
#   run_check NAME COMMAND...      the harness: one PASS/FAIL/!!!! line per check
# and, through ../lib/common.sh and ../lib/venv.sh, PORTCULLIS_ROOT, VENV and ensure_venv.

# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/venv.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/venv.sh"

ROOT="$(cd "${VALIDATE_ROOT:-$PORTCULLIS_ROOT}" && pwd)"
WORK="${VALIDATE_WORK:-$PORTCULLIS_WORK/validate-manifests}"
# shellcheck disable=SC2034 # SCHEMAS, PY_DIR and PRUNE are for the checks that source this file
SCHEMAS="${PORTCULLIS_SCHEMAS:-$ROOT/testdata/schemas}"
# shellcheck disable=SC2034
PY_DIR="$PORTCULLIS_ROOT/pipelines/validate/py"
# Exit status of a check that could not run here (and says why in its summary).
SKIPPED=77
export VALIDATE_ROOT="$ROOT" VALIDATE_WORK="$WORK"
cd "$ROOT" || die "cannot change to $ROOT"

PY() { "$VENV/bin/python" "$@"; }

# summary TEXT...: the last line a check prints, shown on its PASS/FAIL line.
summary() { printf 'summary: %s\n' "$*"; }

# Directories never searched for files to check (local state, build output).
# shellcheck disable=SC2034
PRUNE=(\( -path ./.work -o -path ./target -o -path ./.git -o -path ./node_modules \) -prune)

# renderings: the rendered files, one a line (none when render.sh has not run or rendered nothing).
renderings() { find "$WORK/rendered" -maxdepth 1 -name '*.yaml' 2>/dev/null | sort; }

# need_renderings: exits the check with a failure when there is nothing rendered to check.
need_renderings() {
    if [[ -z "$(renderings)" ]]; then
        echo "no renderings in ${WORK#"$ROOT"/}/rendered (pipelines/validate/render.sh writes them)"
        summary "nothing rendered to check"
        exit 1
    fi
}

# --- the shipped policies, through our own binary (dogfood.sh, compliance.sh) -------------------

# Policies from the library that everything we deploy must pass.
# shellcheck disable=SC2034 # used by the checks that source this file
DOGFOOD_POLICIES=(
    "policies/library/pod-security-restricted.yaml"
    "policies/library/resource-limits.yaml"
)

# portcullis_bin: prints the absolute path of the portcullis binary: $PORTCULLIS_BIN, else a fresh
# debug build.
portcullis_bin() {
    local bin
    if [[ -n ${PORTCULLIS_BIN:-} ]]; then
        if ! bin="$(command -v "$PORTCULLIS_BIN")" || [[ ! -x $bin ]]; then
            echo "PORTCULLIS_BIN=$PORTCULLIS_BIN is not an executable"
            return 1
        fi
        # Absolute, because the evaluation runs from inside the rendered/ folder.
        [[ $bin == /* ]] || bin="$PWD/$bin"
        printf '%s\n' "$bin"
        return 0
    fi
    command -v cargo >/dev/null || { echo "cargo not found: set PORTCULLIS_BIN to a portcullis binary"; return 1; }
    (cd "$PORTCULLIS_ROOT" && cargo build -q -p portcullis-webhook --bin portcullis) >&2 ||
        { echo "cargo build -p portcullis-webhook failed: set PORTCULLIS_BIN to a portcullis binary"; return 1; }
    printf '%s\n' "$PORTCULLIS_ROOT/target/debug/portcullis"
}

# --- harness (pipelines/validate-manifests.sh) -------------------------------------------------

FAILED=()
now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }

# run_check NAME COMMAND...: runs COMMAND with its output in $WORK/logs/NAME.log and prints
#   PASS  NAME  TIME  SUMMARY      exit 0
#   !!!!  NAME  SKIPPED: SUMMARY   exit 77 (test.sh counts it as skipped; CI=true fails it there)
#   FAIL  NAME  TIME  SUMMARY      anything else, followed by the tail of the output
# SUMMARY is the last "summary: " line of the output. Failed names go to FAILED.
run_check() {
    local name="$1" log="$WORK/logs/$1.log" start summary rc=0
    shift
    mkdir -p "$WORK/logs"
    start="$(now)"
    "$@" >"$log" 2>&1 || rc=$?
    summary="$(sed -n 's/^summary: //p' "$log" | tail -n 1)"
    case $rc in
        0) printf 'PASS  %-11s %-7s %s\n' "$name" "$(elapsed "$start")" "$summary" ;;
        "$SKIPPED") printf '!!!!  %-11s SKIPPED: %s\n' "$name" "$summary" ;;
        *)
            printf 'FAIL  %-11s %-7s %s\n' "$name" "$(elapsed "$start")" "$summary"
            grep -v '^summary: ' "$log" | tail -n 60 | sed 's/^/      /'
            FAILED+=("$name")
            ;;
    esac
}
