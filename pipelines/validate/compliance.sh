#!/usr/bin/env bash
# pipelines/validate/compliance.sh: check "compliance". The generated table in
# threat-model/compliance.md (per checklist control, the status `portcullis audit` finds over
# every rendering of deploy/ under the shipped policies, DOGFOOD_POLICIES) must be current.
# Usage: compliance.sh [--write]   (--write rewrites the table; run render.sh first)
#   PORTCULLIS_BIN  the portcullis binary (default: a fresh debug build, as dogfood.sh)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
    local mode=check bin policy files=() args=() out="$WORK/compliance.jsonl"
    case ${1:-} in
        "") ;;
        --write) mode="write" ;;
        *) die "unknown argument $1 (usage: compliance.sh [--write])" ;;
    esac
    need_renderings
    bin="$(portcullis_bin)" || { echo "$bin"; summary "no portcullis binary"; return 1; }
    for policy in "${DOGFOOD_POLICIES[@]}"; do
        [[ -f $PORTCULLIS_ROOT/$policy ]] || { summary "policy $policy not found"; return 1; }
        args+=(--policy "$PORTCULLIS_ROOT/$policy")
    done
    mapfile -t files < <(renderings)
    # From inside rendered/, so that the evidence names the rendering, not a path under .work.
    if ! (cd "$WORK/rendered" && "$bin" audit "${args[@]}" --no-images --output jsonl "${files[@]##*/}") >"$out"; then
        summary "portcullis audit failed over the renderings"
        return 1
    fi
    local rc=0
    PY "$PY_DIR/compliance_table.py" "$mode" "$ROOT/threat-model/compliance.md" "${#files[@]}" <"$out" || rc=$?
    if ((rc == 0)); then
        summary "threat-model/compliance.md's generated table matches portcullis audit over ${#files[@]} renderings"
    else
        summary "threat-model/compliance.md's generated table disagrees with portcullis audit"
    fi
    return "$rc"
}

main "$@"
