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
# (default 2400). Prints one row per crate (covered / coverable lines, %), a total, and the wall
# time; writes .work/coverage/{tarpaulin-report.html,tarpaulin-report.json,coverage.txt}.
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

# Prints the per-crate table from tarpaulin's JSON report ($1), crates found from the workspace.
table() {
    python3 - "$1" "$PORTCULLIS_ROOT" <<'PYEOF'
import json, os, subprocess, sys
report, root = sys.argv[1], sys.argv[2]
meta = json.loads(subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"],
                                 cwd=root, check=True, capture_output=True, text=True).stdout)
crates = sorted(((os.path.dirname(p["manifest_path"]), p["name"]) for p in meta["packages"]),
                key=lambda c: -len(c[0]))
rows = {name: [0, 0] for _, name in crates}
for f in json.load(open(report))["files"]:
    path = os.path.join(*f["path"]) if isinstance(f["path"], list) else f["path"]
    if not path.startswith("/"):
        path = "/" + path.lstrip("/")
    owner = next((name for d, name in crates if path.startswith(d + os.sep)), None)
    if owner is None:
        continue
    rows[owner][0] += f["covered"]
    rows[owner][1] += f["coverable"]
print(f"{'crate':<22} {'covered':>8} {'lines':>8} {'%':>7}")
total = [0, 0]
for name in sorted(rows):
    c, n = rows[name]
    total[0] += c; total[1] += n
    print(f"{name:<22} {c:>8} {n:>8} {100 * c / n if n else 0:>6.1f}%")
c, n = total
print(f"{'total':<22} {c:>8} {n:>8} {100 * c / n if n else 0:>6.1f}%")
PYEOF
}

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
    log "instrumented build and test run (limit ${LIMIT}s)"
    timeout --signal=INT --kill-after=30 "$LIMIT" \
        cargo tarpaulin --engine llvm --workspace --lib --tests --locked --color never \
        --target-dir target/coverage --skip-clean --timeout "$PER_BINARY_TIMEOUT" \
        --exclude-files 'target/*' --exclude-files '*/tests/*' --exclude-files '*/examples/*' \
        --out Json --out Html --output-dir "$OUT" >"$OUT/tarpaulin.log" 2>&1 || rc=$?
    if [[ $rc -ne 0 ]]; then
        tail -n 40 "$OUT/tarpaulin.log"
        [[ $rc -ne 124 ]] || die "coverage run exceeded COVERAGE_LIMIT=${LIMIT}s"
        die "cargo tarpaulin failed (status $rc); log: ${OUT#"$PORTCULLIS_ROOT"/}/tarpaulin.log"
    fi
    [[ -f $OUT/tarpaulin-report.json ]] || die "cargo tarpaulin wrote no JSON report"
    table "$OUT/tarpaulin-report.json" | tee "$OUT/coverage.txt"
    echo "coverage: $(cargo-tarpaulin --version 2>/dev/null | head -n 1), took $((SECONDS - start)) s" |
        tee -a "$OUT/coverage.txt"
}

main "$@"
