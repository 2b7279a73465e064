#!/usr/bin/env bash
# pipelines/test.sh: the test suite as `make test` runs it (after `make lint`), counted.
#
#   1. cargo test --workspace --no-fail-fast: unit, integration and doc tests, against the real
#      processes the tests start (registry, cosign, the webhook over TLS, PostgreSQL). Its output
#      is shown and kept in .work/test/cargo-test.log.
#   2. pipelines/validate-manifests.sh with the portcullis binary just built: one PASS/FAIL line
#      per check.
#   3. The Python unit tests (python -m unittest, with the pinned venv's python) of the modules in
#      PY_TEST_DIRS: the manifest checks' modules and fixture tests, the coverage report.
#   4. The fuzz smoke, pipelines/fuzz.sh --smoke: every fuzz target of verifier/fuzz replays its
#      committed crashing inputs, then fuzzes briefly (FUZZ_SMOKE_RUNS executions, at most
#      FUZZ_SMOKE_MAX_TIME s each; the targets build with the nightly toolchain): one PASS/FAIL
#      line per target, and its wall time (build included).
#   5. The course's labs, pipelines/lab.sh ci: every lab three ways (its start state fails the
#      check, each plausible wrong answer fails it, the reference solution passes): one PASS/FAIL
#      line per lab, with its time.
#   6. The disaster-recovery drills, pipelines/drill.sh all (docs/runbooks/disaster-recovery.md):
#      one PASS/FAIL line per drill, with its measured figures and time.
#   7. The CLI release check, pipelines/package.sh --test: the debug binary step 1 built is packed
#      as `make package` packs a release (no release build here), the result checked as the
#      release workflow checks it, and a tampered copy must be refused: one PASS/FAIL line per
#      check, with its time.
#   8. The deploy-storm smoke, `bench_storm --smoke` (webhook/examples/bench_storm.rs): 1,000
#      reviews over 100 signed images at 500/s against the debug `portcullis serve` through a
#      20 ms registry link; one PASS/FAIL line for reviews past their deadline and one for
#      wrongful denials, with its figures and time.
#   9. Counts, from libtest's own lines ("test result: … N passed; N failed; N ignored" per test
#      binary, "test NAME ... ignored" per ignored test), the manifest check and fuzz smoke lines
#      and unittest's summaries ("Ran N tests", "FAILED (failures=N, errors=N, skipped=N)"),
#      and the lab, drill and package lines, ending with one line `tests: N passed, N failed, N skipped` (skipped =
#      #[ignore]d tests, skipped checks and skipped Python tests). libtest output rather than cargo-nextest: doc tests stay in the same run and
#      count, and the tests keep running the way `cargo test` runs them.
#
# A test never skips by returning early (a missing tool or corpus panics, naming the fix); one
# that truly cannot run somewhere is #[ignore = "needs …"], and counted here. Under CI=true every
# ignored test must be named, with its reason, in pipelines/ci-ignored-tests.txt, or the run fails.
# Exit status: non-zero when anything failed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/venv.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/venv.sh"

ALLOWED="$PORTCULLIS_ROOT/pipelines/ci-ignored-tests.txt"
OUT="$PORTCULLIS_WORK/test"
# Folders of Python modules whose test_*.py files run with python -m unittest (each its own top
# level: the tests import the modules beside them by name).
PY_TEST_DIRS=(pipelines/py pipelines/validate/py)

# Reads cargo test's output on stdin; prints "passed failed ignored results" then one line per
# ignored test, "<test binary>::<test name>" (binary without its hash; "doc:<crate>" for doc tests).
count_cargo() {
    awk '
        /^ +Running / {
            bin = $0; sub(/.*\(/, "", bin); sub(/\).*/, "", bin); sub(/.*\//, "", bin); sub(/-[0-9a-f]+$/, "", bin)
        }
        /^ +Doc-tests / { bin = "doc:" $2 }
        /^test .* \.\.\. ignored/ { name = $0; sub(/^test /, "", name); sub(/ \.\.\. ignored.*/, "", name); ign[++n] = bin "::" name }
        /^test result: / {
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^passed;?$/) p += $(i - 1)
                if ($i ~ /^failed;?$/) f += $(i - 1)
                if ($i ~ /^ignored;?$/) g += $(i - 1)
            }
            results++
        }
        END { print p + 0, f + 0, g + 0, results + 0; for (i = 1; i <= n; i++) print ign[i] }
    '
}

# Reads `python -m unittest` output on stdin; prints "passed failed skipped". Failures, errors and
# unexpected successes fail; expected failures pass.
count_unittest() {
    awk '
        /^Ran [0-9]+ tests? in / { ran += $2 }
        /^(OK|FAILED)( |$)/ {
            line = $0
            while (match(line, /(failures|errors|skipped|expected failures|unexpected successes)=[0-9]+/)) {
                split(substr(line, RSTART, RLENGTH), kv, "=")
                if (kv[1] == "skipped") s += kv[2]
                else if (kv[1] != "expected failures") f += kv[2]
                line = substr(line, RSTART + RLENGTH)
            }
        }
        END { print ran - f - s, f + 0, s + 0 }
    '
}

# python_tests LOG: runs the unit tests of every PY_TEST_DIRS folder into LOG (shown too); prints
# "passed failed skipped". A run that fails without a counted failure counts as one.
python_tests() {
    local log="$1" dir rc p f s tp=0 tf=0 ts=0
    : >"$log"
    for dir in "${PY_TEST_DIRS[@]}"; do
        rc=0
        echo "== python -m unittest: $dir" | tee -a "$log" >&2
        PORTCULLIS_BIN="$PORTCULLIS_ROOT/target/debug/portcullis" \
            "$VENV/bin/python" -m unittest discover -s "$dir" -t "$dir" >"$log.part" 2>&1 || rc=$?
        tee -a "$log" <"$log.part" >&2
        read -r p f s <<<"$(count_unittest <"$log.part")"
        if [[ $rc -ne 0 && $f -eq 0 ]]; then
            echo "python -m unittest exited with status $rc in $dir without a counted failure" | tee -a "$log" >&2
            f=1
        fi
        tp=$((tp + p)) tf=$((tf + f)) ts=$((ts + s))
    done
    rm -f "$log.part"
    echo "$tp $tf $ts"
}

# counted LABEL PREFIX LOG COMMAND...: runs COMMAND, its output shown (on stderr) and kept in LOG;
# prints "passed failed seconds" from its "PASS PREFIX…"/"FAIL PREFIX…" lines. A command that fails
# without a FAIL line (a build error, say) counts as one failure.
counted() {
    local label="$1" prefix="$2" log="$3" rc=0 start=$SECONDS p f
    shift 3
    "$@" 2>&1 | tee "$log" >&2 || rc=$?
    p="$(grep -c "^PASS $prefix" "$log" || true)"
    f="$(grep -c "^FAIL $prefix" "$log" || true)"
    if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
    echo "$label took $((SECONDS - start))s" >&2
    echo "$p $f $((SECONDS - start))"
}

# check_ignored FILE: under CI=true, every ignored test listed in FILE must be in the allow-list
# ("<binary>::<test> # reason", the reason not empty). Prints what is missing; non-zero then.
check_ignored() {
    awk -v allowed="$ALLOWED" -v shown="${ALLOWED#"$PORTCULLIS_ROOT"/}" '
        BEGIN {
            while ((getline line < allowed) > 0) {
                if (line ~ /^[[:space:]]*(#|$)/) continue
                i = index(line, " # ")
                if (i == 0) continue
                key = substr(line, 1, i - 1); reason = substr(line, i + 3)
                gsub(/^[ \t]+|[ \t]+$/, "", key); gsub(/^[ \t]+|[ \t]+$/, "", reason)
                if (reason != "") ok[key] = 1
            }
        }
        !($0 in ok) { print "ignored under CI=true without an entry and reason in " shown ": " $0; bad = 1 }
        END { exit bad }
    ' "$1"
}

main() {
    cd "$PORTCULLIS_ROOT"
    mkdir -p "$OUT"
    local log="$OUT/cargo-test.log" cargo_rc=0 manifests_rc=0
    cargo test --workspace --no-fail-fast --locked 2>&1 | tee "$log" || cargo_rc=$?

    local counts p f g results
    counts="$(count_cargo <"$log")"
    read -r p f g results <<<"$(head -n 1 <<<"$counts")"
    tail -n +2 <<<"$counts" >"$OUT/ignored.txt"
    if [[ $cargo_rc -ne 0 && $f -eq 0 ]]; then
        # A build error or a crashed test binary: no failing test was counted, yet cargo failed.
        echo "cargo test exited with status $cargo_rc without a counted failure (build error or crashed test binary; see ${log#"$PORTCULLIS_ROOT"/})"
        f=1
    fi
    if [[ $results -eq 0 ]]; then
        echo "cargo test ran no test binary"
        f=$((f + 1))
    fi

    local mlog="$OUT/manifests.log"
    PORTCULLIS_BIN="$PORTCULLIS_ROOT/target/debug/portcullis" pipelines/validate-manifests.sh 2>&1 | tee "$mlog" ||
        manifests_rc=$?
    local mp mf ms
    mp="$(grep -c '^PASS ' "$mlog" || true)"
    mf="$(grep -c '^FAIL ' "$mlog" || true)"
    ms="$(grep -c '^!!!! ' "$mlog" || true)"
    if [[ $manifests_rc -ne 0 && $mf -eq 0 ]]; then mf=1; fi

    # After the manifest checks: they install the venv these tests run with.
    local pp pf ps
    read -r pp pf ps <<<"$(python_tests "$OUT/python-tests.log")"

    # The fuzz smoke, the labs and the drills: one PASS/FAIL line per target, lab or drill.
    local fp ff fuzz_time lp lf labs_time dp df drills_time
    read -r fp ff fuzz_time <<<"$(counted "fuzz smoke" fuzz/ "$OUT/fuzz-smoke.log" pipelines/fuzz.sh --smoke)"
    read -r lp lf labs_time <<<"$(counted labs lab/ "$OUT/labs.log" pipelines/lab.sh ci)"
    read -r dp df drills_time <<<"$(counted drills drill/ "$OUT/drills.log" pipelines/drill.sh all)"
    local kp kf package_time
    read -r kp kf package_time <<<"$(counted package package/ "$OUT/package.log" \
        env PACKAGE_BIN="$PORTCULLIS_ROOT/target/debug/portcullis" pipelines/package.sh --test)"
    local sp sf storm_time
    read -r sp sf storm_time <<<"$(counted "storm smoke" storm/ "$OUT/storm-smoke.log" \
        cargo run --locked -q -p portcullis-webhook --example bench_storm -- --smoke)"

    local ci_rc=0
    if [[ $g -gt 0 ]]; then
        echo "ignored tests ($g):"
        sed 's/^/  /' "$OUT/ignored.txt"
        if [[ ${CI:-} == true ]]; then
            check_ignored "$OUT/ignored.txt" || ci_rc=1
            [[ $ci_rc -eq 0 ]] || f=$((f + 1))
        fi
    fi
    [[ ${CI:-} != true || $ms -eq 0 ]] || { echo "manifest checks skipped under CI=true: $ms"; mf=$((mf + ms)); }

    [[ ${CI:-} != true || $ps -eq 0 ]] || { echo "Python tests skipped under CI=true: $ps"; pf=$((pf + ps)); }

    echo "test summary: cargo test $p passed, $f failed, $g ignored ($results test binaries);" \
        "manifest checks $mp passed, $mf failed, $ms skipped; Python tests $pp passed, $pf failed, $ps skipped;" \
        "fuzz smoke $fp passed, $ff failed (${fuzz_time}s); labs $lp passed, $lf failed (${labs_time}s);" \
        "drills $dp passed, $df failed (${drills_time}s); release package $kp passed, $kf failed (${package_time}s);" \
        "storm smoke $sp passed, $sf failed (${storm_time}s)"
    echo "tests: $((p + mp + pp + fp + lp + dp + kp + sp)) passed, $((f + mf + pf + ff + lf + df + kf + sf)) failed, $((g + ms + ps)) skipped"
    [[ $cargo_rc -eq 0 && $manifests_rc -eq 0 && $ci_rc -eq 0 && $((f + mf + pf + ff + lf + df + kf + sf)) -eq 0 ]]
}

main "$@"
