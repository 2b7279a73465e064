#!/usr/bin/env bash
# pipelines/validate/k8s-schema.sh: check "k8s-schema". The built-in kinds of every rendering
# ($WORK/builtin, written by render.sh) through kubernetes-validate --strict, for the newest
# Kubernetes we target and the oldest we support (K8S_VERSIONS).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Newest Kubernetes we target and the oldest we support (webhook matchConditions and the preStop
# sleep action are on by default from 1.30).
K8S_VERSIONS=("1.35.0" "1.30.0")

main() {
    need_renderings
    local v files=("$WORK"/builtin/*.yaml) out rc total=0
    [[ -e ${files[0]} ]] || { summary "no renderings split into $WORK/builtin"; return 1; }
    for v in "${K8S_VERSIONS[@]}"; do
        rc=0
        out="$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "${files[@]}" 2>&1)" || rc=$?
        # With only built-in kinds in the input, "Couldn't find schema" means an API that this
        # Kubernetes version does not serve: a failure, not a warning.
        if [[ $rc -ne 0 ]] || grep -E '^(WARN|ERROR)' <<<"$out" >/dev/null; then
            echo "Kubernetes $v:"
            echo "$out"
            total=$((total + 1))
        fi
    done
    local objs
    objs="$(cat "${files[@]}" | grep -c '^kind:' || true)"
    summary "$objs built-in objects x ${#K8S_VERSIONS[@]} versions (${K8S_VERSIONS[*]}), $total version(s) failed"
    [[ $total -eq 0 ]]
}

main "$@"
