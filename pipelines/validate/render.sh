#!/usr/bin/env bash
# pipelines/validate/render.sh: check "render". kubectl kustomize every base, every overlay, every
# path a Flux Kustomization points at, and each cluster entry folder (as Flux's bootstrap
# Kustomization would); py/render_targets.py lists them. Writes $WORK/rendered/<dir>.yaml, then
# splits what rendered into built-in kinds ($WORK/builtin) and custom resources ($WORK/custom)
# for the schema checks (py/split_renderings.py). Later checks run on whatever rendered, so one
# broken overlay does not hide other findings.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v kubectl >/dev/null || { summary "kubectl not found (kubectl kustomize renders the manifests)"; exit 1; }

# render_flux_root DIR REL: what Flux does for a folder without kustomization.yaml, include every
# manifest below it; prints the folder to render.
render_flux_root() {
    local dir="$1" tmp="$WORK/flux-root/${2//\//_}" manifests f
    mkdir -p "$tmp"
    cp -R "$dir/." "$tmp/"
    manifests="$(cd "$tmp" && find . -name '*.yaml' | sort)"
    {
        printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n'
        while IFS= read -r f; do printf '  - %s\n' "$f"; done <<<"$manifests"
    } >"$tmp/kustomization.yaml"
    printf '%s\n' "$tmp"
}

main() {
    rm -rf "$WORK/rendered" "$WORK/flux-root" "$WORK/builtin" "$WORK/custom"
    mkdir -p "$WORK/rendered" "$WORK/flux-root" "$WORK/builtin" "$WORK/custom"
    local targets kind dir rel out n=0 bad=0
    targets="$(PY "$PY_DIR/render_targets.py" "$ROOT")" || { summary "cannot list what to render"; return 1; }
    while IFS=$'\t' read -r kind dir; do
        rel="${dir#"$ROOT"/}"
        out="$WORK/rendered/${rel//\//_}.yaml"
        [[ $kind != flux-root ]] || dir="$(render_flux_root "$dir" "$rel")"
        if kubectl kustomize "$dir" >"$out" 2>"$out.err"; then
            n=$((n + 1))
        else
            echo "render failed: $rel"
            sed 's/^/  /' "$out.err"
            rm -f "$out"
            bad=$((bad + 1))
        fi
        rm -f "$out.err"
    done <<<"$targets"
    [[ $n -gt 0 ]] || { summary "nothing rendered"; return 1; }
    local split
    split="$(PY "$PY_DIR/split_renderings.py" "$WORK")" || { summary "$n renderings, splitting them failed"; return 1; }
    echo "$split"
    summary "$n renderings, $bad failed"
    [[ $bad -eq 0 ]]
}

main "$@"
