#!/usr/bin/env bash
# pipelines/fuzz.sh: the coverage-guided fuzz targets of verifier/fuzz (cargo-fuzz, libFuzzer),
# each run for a bounded number of executions. `make fuzz` runs it; `make test` runs it with
# --smoke (pipelines/test.sh counts its PASS/FAIL lines).
#
#   pipelines/fuzz.sh [--smoke] [TARGET...]     (no TARGET: every target in verifier/fuzz/Cargo.toml)
#
# Per target:
#   1. Every committed crashing input (verifier/fuzz/regressions/<target>/*) is replayed once: a
#      crash that comes back fails the target, whatever the fuzzing then finds.
#   2. libFuzzer runs for FUZZ_RUNS executions (default 200000; --smoke: FUZZ_SMOKE_RUNS, default
#      2000), stopped after FUZZ_MAX_TIME seconds (default 120; --smoke: FUZZ_SMOKE_MAX_TIME,
#      default 5), whichever comes first. Inputs: the corpus kept in .work/fuzz/corpus/<target>
#      (grows run after run; --smoke uses a fresh one), seeds derived from testdata/ (bundles,
#      their certificates, timestamps, checkpoints, envelopes and Rekor bodies, the Rekor bundles and trusted roots,
#      the simple-signing payloads) and the hand-written seeds in verifier/fuzz/seeds/<target>.
#   3. One line: `PASS fuzz/<target> runs=N time=Ss` or `FAIL fuzz/<target> …` naming the crashing
#      input libFuzzer wrote to .work/fuzz/artifacts/<target>/ (and the log in .work/fuzz/logs/).
#      To keep a crash fixed: fix it, then copy that input to verifier/fuzz/regressions/<target>/.
#
# Builds once with the nightly toolchain (FUZZ_TOOLCHAIN, default `nightly`; the product stays on
# rust-toolchain.toml's stable), AddressSanitizer (libFuzzer's -malloc_limit_mb catches huge
# allocations through it) and debug assertions (arithmetic overflow panics), into
# .work/fuzz/target, with verifier/fuzz/Cargo.lock as it is committed. `make bootstrap` installs
# cargo-fuzz and, where missing, the nightly toolchain. Exit status: non-zero when any target
# failed or the build did.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

FUZZ_DIR="$PORTCULLIS_ROOT/verifier/fuzz"
OUT="$PORTCULLIS_WORK/fuzz"
TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly}"
CORPORA="$PORTCULLIS_ROOT/testdata/corpora/cosign"
# Per input: a hang over this many seconds, or one allocation over this many MB, is a finding.
INPUT_TIMEOUT=10
MALLOC_LIMIT_MB=512

# The [[bin]] names of verifier/fuzz/Cargo.toml, in file order.
all_targets() {
    awk '/^\[\[bin\]\]/ { bin = 1; next } bin && /^name *=/ { gsub(/.*= *"|".*/, ""); print; bin = 0 }' \
        "$FUZZ_DIR/Cargo.toml"
}

# b64_to FILE: base64 on stdin, decoded to FILE (nothing written for an empty input).
b64_to() {
    local text
    text="$(cat)"
    [[ -n $text ]] || return 0
    base64 -d <<<"$text" >"$1" || die "bad base64 for seed $1"
}

# jq_seeds TARGET FILTER KIND FILE...: every string FILTER yields from each JSON FILE becomes one
# seed of TARGET; KIND `b64` decodes it first, `text` keeps it, `json` writes the value as JSON.
jq_seeds() {
    local target="$1" filter="$2" kind="$3" file n i dest
    shift 3
    mkdir -p "$OUT/seeds/$target"
    for file in "$@"; do
        n="$(jq "[$filter] | length" "$file")"
        for ((i = 0; i < n; i++)); do
            dest="$OUT/seeds/$target/$(basename "$file" .json)-$i"
            case $kind in
                b64) jq -r "[$filter][$i]" "$file" | b64_to "$dest" ;;
                text) jq -j "[$filter][$i]" "$file" >"$dest" ;;
                json) jq -c "[$filter][$i]" "$file" >"$dest" ;;
            esac
        done
    done
}

# Seeds derived from the repository's test data, rewritten on every run into .work/fuzz/seeds.
derive_seeds() {
    command -v jq >/dev/null || die "jq not found: run make bootstrap"
    rm -rf "$OUT/seeds"
    local -a bundles roots
    bundles=("$CORPORA"/bundles/*.sigstore.json "$CORPORA"/bundles/bundle_v03.json "$CORPORA"/bundles/rekor-v2/*.sigstore.json)
    roots=("$CORPORA"/trust/*.json "$CORPORA"/bundles/trusted_root_pgi.json "$CORPORA"/bundles/rekor-v2/trustedroot.*.json)
    local legacy="$CORPORA/vectors/sign-blob-legacy-bundle/artifact.bundle"
    mkdir -p "$OUT/seeds/bundle_json" "$OUT/seeds/certificate" "$OUT/seeds/simple_signing" "$OUT/seeds/rekor_body"
    cp "${bundles[@]}" "$legacy" "$OUT/seeds/bundle_json/"
    mkdir -p "$OUT/seeds/trusted_root"
    cp "${roots[@]}" "$OUT/seeds/trusted_root/"
    jq_seeds certificate '.verificationMaterial | (.certificate.rawBytes?, .x509CertificateChain.certificates[]?.rawBytes) | strings' b64 "${bundles[@]}"
    jq_seeds certificate '(.certificateAuthorities[]?, .timestampAuthorities[]?) | .certChain.certificates[].rawBytes' b64 "${roots[@]}"
    cp "$CORPORA"/vectors/simple-signing-keyless/cert.pem "$CORPORA"/vectors/trust/*.pem "$OUT/seeds/certificate/"
    jq_seeds tsa_token '.verificationMaterial.timestampVerificationData.rfc3161Timestamps[]?.signedTimestamp' b64 "${bundles[@]}"
    jq_seeds checkpoint '.verificationMaterial.tlogEntries[]?.inclusionProof.checkpoint.envelope | strings' text "${bundles[@]}"
    jq_seeds dsse_envelope '.dsseEnvelope | objects' json "${bundles[@]}"
    jq_seeds rekor_body '.verificationMaterial.tlogEntries[]?.canonicalizedBody' b64 "${bundles[@]}"
    jq_seeds rekor_body '(.rekorBundle.Payload.body?, .Payload.body?) | strings' b64 "$legacy" \
        "$CORPORA"/vectors/*/rekor_bundle.json
    cp "$CORPORA"/vectors/rekor-bundle-set/rekor_bundle.json "$OUT/seeds/rekor_body/set-rekor_bundle.json"
    cp "$CORPORA"/vectors/simple-signing-keyless/rekor_bundle.json "$OUT/seeds/rekor_body/keyless-rekor_bundle.json"
    cp "$CORPORA"/vectors/simple-signing-key/payload.json "$OUT/seeds/simple_signing/key-payload.json"
    cp "$CORPORA"/vectors/simple-signing-keyless/payload.json "$OUT/seeds/simple_signing/keyless-payload.json"
}

build() {
    command -v cargo-fuzz >/dev/null || die "cargo-fuzz not found: run make bootstrap"
    cargo "+$TOOLCHAIN" --version >/dev/null 2>&1 ||
        die "no $TOOLCHAIN toolchain (cargo +$TOOLCHAIN): run make bootstrap, or set FUZZ_TOOLCHAIN"
    log "building the fuzz targets ($(cargo "+$TOOLCHAIN" --version), cargo-fuzz $(cargo-fuzz --version | awk '{ print $2 }'))"
    # cargo fuzz has no --locked: check the committed lock file first, so the build uses it as is.
    cargo "+$TOOLCHAIN" fetch --locked --manifest-path "$FUZZ_DIR/Cargo.toml" >&2 ||
        die "verifier/fuzz/Cargo.lock is out of date: run cargo +$TOOLCHAIN fetch --manifest-path verifier/fuzz/Cargo.toml and commit it"
    cargo "+$TOOLCHAIN" fuzz build --fuzz-dir "$FUZZ_DIR" --target-dir "$OUT/target" \
        --release --debug-assertions --sanitizer address >&2
}

# run_target NAME RUNS MAX_TIME FRESH: prints the target's PASS/FAIL line; non-zero on FAIL.
run_target() {
    local name="$1" runs="$2" max_time="$3" fresh="$4"
    local bin="$OUT/target/x86_64-unknown-linux-gnu/release/$name"
    local log="$OUT/logs/$name.log" artifacts="$OUT/artifacts/$name/" corpus="$OUT/corpus/$name"
    local regressions="$FUZZ_DIR/regressions/$name" seeds="$FUZZ_DIR/seeds/$name"
    [[ -x $bin ]] || die "$bin was not built"
    mkdir -p "$artifacts" "$OUT/logs"
    if ((fresh)); then
        corpus="$(mktemp -d "$OUT/smoke-corpus.XXXXXX")"
    fi
    mkdir -p "$corpus"
    local -a flags=(-artifact_prefix="$artifacts" -timeout="$INPUT_TIMEOUT" -malloc_limit_mb="$MALLOC_LIMIT_MB"
        -rss_limit_mb=2048 -print_final_stats=1)
    local start=$SECONDS rc=0
    : >"$log"
    # 1. The regressions, each replayed once.
    local -a replay=()
    if [[ -d $regressions ]]; then
        mapfile -t replay < <(find "$regressions" -type f ! -name '*.md' | sort)
    fi
    if ((${#replay[@]} > 0)); then
        "$bin" "${flags[@]}" "${replay[@]}" >>"$log" 2>&1 || rc=$?
    fi
    # 2. Fuzzing from the corpus and seeds.
    local -a dirs=("$corpus")
    [[ -d $OUT/seeds/$name ]] && dirs+=("$OUT/seeds/$name")
    [[ -d $seeds ]] && dirs+=("$seeds")
    [[ -d $regressions ]] && dirs+=("$regressions")
    if ((rc == 0)); then
        "$bin" "${flags[@]}" -runs="$runs" -max_total_time="$max_time" "${dirs[@]}" >>"$log" 2>&1 || rc=$?
    fi
    ((fresh)) && rm -rf "$corpus"
    local done_runs elapsed=$((SECONDS - start))
    done_runs="$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)"
    if ((rc == 0)); then
        echo "PASS fuzz/$name runs=${done_runs:-?} time=${elapsed}s"
        return 0
    fi
    local crash
    crash="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
    [[ -n $crash ]] || crash="(${#replay[@]} regression inputs replayed; no new input written)"
    echo "FAIL fuzz/$name runs=${done_runs:-?} time=${elapsed}s exit=$rc input=${crash#"$PORTCULLIS_ROOT"/} log=${log#"$PORTCULLIS_ROOT"/}"
    grep -E '^(thread .* panicked|==[0-9]+==ERROR|SUMMARY)' "$log" | head -n 3 | sed 's/^/    /' || true
    return 1
}

main() {
    local smoke=0
    local -a targets=()
    while (($# > 0)); do
        case $1 in
            --smoke) smoke=1 ;;
            -*) die "unknown option $1 (usage: fuzz.sh [--smoke] [TARGET...])" ;;
            *) targets+=("$1") ;;
        esac
        shift
    done
    local -a known
    mapfile -t known < <(all_targets)
    ((${#known[@]} > 0)) || die "no [[bin]] targets in verifier/fuzz/Cargo.toml"
    ((${#targets[@]} > 0)) || targets=("${known[@]}")
    local t
    for t in "${targets[@]}"; do
        [[ " ${known[*]} " == *" $t "* ]] || die "unknown fuzz target $t (known: ${known[*]})"
    done
    local runs max_time
    if ((smoke)); then
        runs="${FUZZ_SMOKE_RUNS:-2000}" max_time="${FUZZ_SMOKE_MAX_TIME:-5}"
    else
        runs="${FUZZ_RUNS:-200000}" max_time="${FUZZ_MAX_TIME:-120}"
    fi
    [[ $runs =~ ^[0-9]+$ && $max_time =~ ^[0-9]+$ && $max_time -gt 0 ]] ||
        die "runs ($runs) and max time ($max_time s) must be whole numbers, the time above 0"

    local start=$SECONDS
    mkdir -p "$OUT"
    build
    derive_seeds
    local build_time=$((SECONDS - start)) passed=0 failed=0
    log "${#targets[@]} targets, up to $runs runs or ${max_time}s each (build and seeds ${build_time}s)"
    for t in "${targets[@]}"; do
        if run_target "$t" "$runs" "$max_time" "$smoke"; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
        fi
    done
    local what=run
    ((smoke)) && what=smoke
    log "$what: $passed passed, $failed failed in $((SECONDS - start))s (build and seeds ${build_time}s)"
    ((failed == 0))
}

main "$@"
