#!/usr/bin/env bash
# pipelines/validate/checkov.sh: check "checkov". checkov over deploy/ as committed, then over the
# renderings (what the overlays' inline patches produce) and every Dockerfile. Checks switched off
# for the whole project are in deploy/checkov-skips.yaml, each with its reason on its line.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONFIG="deploy/checkov-skips.yaml"

# unexplained_skips: every skipped check must say why, on its own line: "  - CKV_K8S_43  # reason".
unexplained_skips() {
    local line bad=0
    while IFS= read -r line; do
        if [[ $line =~ ^[[:space:]]*-[[:space:]]*(CKV[A-Z0-9_]+) && ! $line =~ \#[[:space:]]*[^[:space:]] ]]; then
            echo "$CONFIG: skip without a reason: $line"
            bad=1
        fi
    done <"$CONFIG"
    return "$bad"
}

# total WORD FILE: the sum of checkov's "WORD checks: N" counts in FILE.
total() { grep -oE "$1 checks: [0-9]+" "$2" | awk '{ s += $3 } END { print s + 0 }'; }

main() {
    need_renderings
    [[ -f $CONFIG ]] || { summary "$CONFIG not found"; return 1; }
    local bad=0 rc=0
    unexplained_skips || bad=1
    local dockerfiles=()
    mapfile -t dockerfiles < <(find . "${PRUNE[@]}" \
        -o -type f \( -name Dockerfile -o -name 'Dockerfile.*' -o -name '*.Dockerfile' \) -print | sort)
    # The renderings and Dockerfiles go in as files: checkov skips directories starting with "."
    # such as .work, and ignores -f when -d is given.
    local common=(--config-file "$CONFIG" --skip-download --quiet --compact --output cli)
    local frameworks=(kubernetes) files=() f out="$WORK/checkov.out"
    while IFS= read -r f; do files+=(-f "$f"); done < <(renderings)
    for f in "${dockerfiles[@]}"; do files+=(-f "$f"); done
    [[ ${#dockerfiles[@]} -eq 0 ]] || frameworks+=(dockerfile)
    : >"$out"
    "$VENV/bin/checkov" "${common[@]}" -d deploy --framework kubernetes >>"$out" 2>&1 || rc=1
    "$VENV/bin/checkov" "${common[@]}" "${files[@]}" --framework "${frameworks[@]}" >>"$out" 2>&1 || rc=1
    cat "$out"
    local failed passed skipped skip_ids
    failed="$(total Failed "$out")"
    passed="$(total Passed "$out")"
    skipped="$(total Skipped "$out")"
    skip_ids="$(grep -oE '^[[:space:]]*-[[:space:]]*CKV[A-Z0-9_]+' "$CONFIG" | grep -oE 'CKV[A-Z0-9_]+' | paste -sd, -)" || true
    summary "${passed} passed, ${failed} failed, ${skipped} skipped inline, checks off by config: ${skip_ids:-none}" \
        "(deploy/ + renderings, ${#dockerfiles[@]} Dockerfile(s))"
    [[ $rc -eq 0 && $bad -eq 0 && $failed -eq 0 && $passed -gt 0 ]]
}

main "$@"
