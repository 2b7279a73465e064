#!/usr/bin/env bash
# pipelines/coverage.sh: line coverage per crate, on the pinned stable toolchain (`make coverage`).
#
# cargo-tarpaulin (installed by `pipelines/bootstrap.sh coverage`) with its LLVM engine: the
# tests are built with `-C instrument-coverage` and tarpaulin reads the raw profiles itself, so
# no llvm-tools component is needed (rustup cannot download one here). The instrumented build
# lives in target/coverage, apart from the normal one.
#
# Bounded for CI: the library and integration tests of every crate run (doc tests and examples do
# not), each test binary under tarpaulin's --timeout, the whole run under COVERAGE_LIMIT seconds
# (default 2400). COVERAGE_PACKAGES="crate ..." limits the run to those crates (their own tests;
# .ci/run measures the pure engine crates that way, the GitHub workflow the whole workspace).
# Prints one row per crate (covered / coverable lines, %), a total, and the wall time (table by
# pipelines/py/coverage_report.py); writes .work/coverage/{tarpaulin-report.html,
# tarpaulin-report.json,coverage.txt,badge.svg}, and the table to $GITHUB_STEP_SUMMARY when set.
# Coverage is a figure, not a gate: it fails only when the run itself fails.
# The instrumented build takes ~16 GB (full debug info): it is deleted afterwards unless
# COVERAGE_KEEP_BUILD=1 (then a second run only rebuilds what changed). Profiles that processes
# started by the tests write into their working folder (*.profraw) are removed too.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

OUT="$PORTCULLIS_WORK/coverage"
LIMIT="${COVERAGE_LIMIT:-2400}"
PER_BINARY_TIMEOUT=600

cleanup() {
    find "$PORTCULLIS_ROOT" -path "$PORTCULLIS_ROOT/target" -prune -o -name '*.profraw' -type f -print0 |
        xargs -0 -r rm -f
    [[ ${COVERAGE_KEEP_BUILD:-0} == 1 ]] || rm -rf "$PORTCULLIS_ROOT/target/coverage"
}

main() {
    cd "$PORTCULLIS_ROOT"
    command -v cargo-tarpaulin >/dev/null || die "cargo-tarpaulin not found: run pipelines/bootstrap.sh coverage"
    rm -rf "$OUT" && mkdir -p "$OUT"
    local start=$SECONDS rc=0
    trap cleanup EXIT
    local scope=(--workspace) pkg
    if [[ -n ${COVERAGE_PACKAGES:-} ]]; then
        scope=()
        for pkg in $COVERAGE_PACKAGES; do scope+=(--packages "$pkg"); done
    fi
    log "instrumented build and test run of ${COVERAGE_PACKAGES:-the workspace} (limit ${LIMIT}s)"
    timeout --signal=INT --kill-after=30 "$LIMIT" \
        cargo tarpaulin --engine llvm "${scope[@]}" --lib --tests --locked --color never \
        --target-dir target/coverage --skip-clean --timeout "$PER_BINARY_TIMEOUT" \
        --exclude-files 'target/*' --exclude-files '*/tests/*' --exclude-files '*/examples/*' \
        --out Json --out Html --output-dir "$OUT" >"$OUT/tarpaulin.log" 2>&1 || rc=$?
    if [[ $rc -ne 0 ]]; then
        tail -n 40 "$OUT/tarpaulin.log"
        [[ $rc -ne 124 ]] || die "coverage run exceeded COVERAGE_LIMIT=${LIMIT}s"
        die "cargo tarpaulin failed (status $rc); log: ${OUT#"$PORTCULLIS_ROOT"/}/tarpaulin.log"
    fi
    [[ -f $OUT/tarpaulin-report.json ]] || die "cargo tarpaulin wrote no JSON report"
    local only=()
    # shellcheck disable=SC2206 # word splitting of the crate list is meant
    [[ -z ${COVERAGE_PACKAGES:-} ]] || only=(--only $COVERAGE_PACKAGES)
    python3 "$PORTCULLIS_ROOT/pipelines/py/coverage_report.py" "$OUT/tarpaulin-report.json" \
        "$PORTCULLIS_ROOT" "${only[@]}" --badge "$OUT/badge.svg" | tee "$OUT/coverage.txt"
    echo "coverage: $(cargo-tarpaulin --version 2>/dev/null | head -n 1), took $((SECONDS - start)) s" |
        tee -a "$OUT/coverage.txt"
    if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
        { echo "## Line coverage" && echo && echo '```' && cat "$OUT/coverage.txt" && echo '```'; } >>"$GITHUB_STEP_SUMMARY"
    fi
}

main "$@"
