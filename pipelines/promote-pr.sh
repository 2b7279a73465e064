#!/usr/bin/env bash
# Promotion as release.yml's gated jobs run it (GitHub environment "stage" or "prod", each with
# required reviewers): verify every digest again from the registry, write the digests into
# deploy/overlays/ENV (stages/promote.sh --root <this checkout>), commit that on a branch and open
# a pull request; Flux applies it once merged. Usage:
#   promote-pr.sh ENV DIGESTS-JSON [TAG]       DIGESTS-JSON: {"jobs-api": "sha256:...", ...}
# Needs PIPELINE_PUB, PIPELINE_REGISTRY (default ghcr.io/<owner>), and GH_TOKEN + GITHUB_REPOSITORY to push and open the pull
# request (PIPELINE_PR_DRY_RUN=1 stops after the local commit).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/images.sh"

main() {
    local env="${1:-}" digests="${2:-}" tag="${3:-}"
    [[ $env =~ ^[a-z]+$ && -n $digests ]] || die "usage: promote-pr.sh ENV DIGESTS-JSON [TAG]"
    [[ -z $tag || $tag =~ ^[0-9A-Za-z][0-9A-Za-z.+-]*$ ]] || die "not a tag: $tag"
    jq -e 'type == "object" and length > 0 and all(.[]; test("^sha256:[0-9a-f]{64}$"))' <<<"$digests" >/dev/null ||
        die "DIGESTS-JSON must map image names to sha256 digests: $digests"
    if [[ -z ${PIPELINE_REGISTRY:-} && -n ${GITHUB_REPOSITORY_OWNER:-} ]]; then
        export PIPELINE_REGISTRY="ghcr.io/${GITHUB_REPOSITORY_OWNER,,}"
    fi
    if [[ -z ${PORTCULLIS_REGISTRY_CONFIG:-} && -f ${HOME:-/nonexistent}/.docker/config.json ]]; then
        export PORTCULLIS_REGISTRY_CONFIG="$HOME/.docker/config.json"
    fi
    local -a names args=()
    mapfile -t names < <(jq -r 'keys[]' <<<"$digests")
    local name digest
    for name in "${names[@]}"; do
        image_dockerfile "$name" >/dev/null
        digest="$(jq -r --arg n "$name" '.[$n]' <<<"$digests")"
        # shellcheck disable=SC2046 # flags are words or nothing
        portcullis verify --key "$PIPELINE_PUB" $(portcullis_registry_flags) "$(image_ref "$name")@$digest" ||
            die "$name@$digest does not verify: not promoting it"
        args+=(--digest "$name=$digest")
    done
    [[ -z $tag ]] || args+=(--tag "$tag")
    "$PORTCULLIS_ROOT/pipelines/stages/promote.sh" --env "$env" --root "$PORTCULLIS_ROOT" "${args[@]}" "${names[@]}"

    cd "$PORTCULLIS_ROOT"
    if git diff --quiet -- deploy/; then
        log "deploy/overlays/$env already has these digests: nothing to promote"
        return
    fi
    local branch sha
    sha="$(git rev-parse --short=7 HEAD)"
    branch="promote/$env-$sha"
    git switch -c "$branch"
    git -c user.name="portcullis-release" -c user.email="release@portcullis.dev" \
        commit -q -m "deploy($env): promote $sha" -m "$(jq -r 'to_entries[] | "- \(.key)@\(.value)"' <<<"$digests")" -- deploy/
    if [[ ${PIPELINE_PR_DRY_RUN:-0} == 1 ]]; then
        log "dry run: committed on $branch, not pushed"
        return
    fi
    [[ -n ${GH_TOKEN:-} && -n ${GITHUB_REPOSITORY:-} ]] || die "GH_TOKEN and GITHUB_REPOSITORY are needed to push"
    git -c "http.https://github.com/.extraheader=AUTHORIZATION: basic $(printf 'x-access-token:%s' "$GH_TOKEN" | base64 -w0)" \
        push -q origin "HEAD:refs/heads/$branch"
    gh pr create --base "${PROMOTE_BASE:-main}" --head "$branch" --title "deploy($env): promote $sha" \
        --body "Verified digests (portcullis verify) promoted by release.yml: $(jq -c . <<<"$digests")"
}

main "$@"
