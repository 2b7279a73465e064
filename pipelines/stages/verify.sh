#!/usr/bin/env bash
# Stage 7, verify: check each pushed image from the registry, the way a consumer would, with two
# independent implementations. Usage: verify.sh [IMAGE...]
#
#   portcullis verify              signature by the pipeline key on the pushed digest
#   portcullis verify-attestation  SLSA provenance v1: built from this repository at this commit,
#                                  by the expected Dockerfile; CycloneDX SBOM present
#   cosign verify / verify-attestation with the same public key: the real cosign 3.1, and with
#                                  PIPELINE_BUNDLE_FORMAT=classic the real cosign 2.5 too
#   tags                           every tag still resolves to the verified digest
#   non-root                       the image's config says a non-zero USER (a build that runs as
#                                  root is refused here, before any cluster sees it)
#   keyless (PIPELINE_KEYLESS=1)   cosign verify with this workflow's certificate identity
# Writes $PIPELINE_OUT/<image>/verified on success (the promote stage requires it).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/images.sh"

verify_image() {
    local name="$1" out pushed digest repo commit dockerfile tag got
    out="$(image_out "$name")"
    pushed="$(pushed_ref "$name")"
    digest="$(image_digest "$name")"
    repo="$(jq -r .source.repository "$out/build.json")"
    commit="$(jq -r .source.commit "$out/build.json")"
    dockerfile="$(jq -r .dockerfile "$out/build.json")"
    rm -f "$out/verified"
    local -a pflags cflags
    read -r -a pflags <<<"$(portcullis_registry_flags)"
    read -r -a cflags <<<"$(cosign_registry_flags)"

    portcullis verify --key "$PIPELINE_PUB" "${pflags[@]}" "$pushed" ||
        die "$name: portcullis verify failed for $pushed"
    portcullis verify-attestation --key "$PIPELINE_PUB" "${pflags[@]}" --type slsaprovenance1 \
        --condition "\$.buildDefinition.externalParameters.workflow.repository == $repo" \
        --condition "\$.buildDefinition.resolvedDependencies[0].digest.gitCommit == $commit" \
        --condition "\$.buildDefinition.externalParameters.image.dockerfile == $dockerfile" \
        "$pushed" || die "$name: provenance does not verify for $pushed"
    portcullis verify-attestation --key "$PIPELINE_PUB" "${pflags[@]}" --type cyclonedx \
        --condition "\$.bomFormat == CycloneDX" "$pushed" ||
        die "$name: SBOM attestation does not verify for $pushed"

    cosign_verifies "$COSIGN3_BIN" "$name" "$out" "$pushed" "${cflags[@]}"
    if [[ $PIPELINE_BUNDLE_FORMAT == classic ]]; then
        cosign_verifies "$COSIGN_BIN" "$name" "$out" "$pushed" "${cflags[@]}"
    fi

    if [[ ${PIPELINE_KEYLESS:-0} == 1 ]]; then
        "$COSIGN_BIN" verify --certificate-oidc-issuer https://token.actions.githubusercontent.com \
            --certificate-identity "${GITHUB_SERVER_URL}/${GITHUB_WORKFLOW_REF}" "$pushed" >/dev/null ||
            die "$name: keyless cosign verify failed for $pushed"
        log "$name: keyless signature by ${GITHUB_WORKFLOW_REF}: OK"
    fi

    while IFS= read -r tag; do
        # shellcheck disable=SC2046
        got="sha256:$(skopeo inspect --raw $(skopeo_tls_flags) "docker://$(image_ref "$name"):$tag" | sha256sum | cut -d' ' -f1)"
        [[ $got == "$digest" ]] || die "$name: tag $tag now resolves to $got, not the verified $digest"
    done < <(image_tags "$name")
    log "$name: tags $(image_tags "$name" | paste -sd' ') -> $digest"

    local why
    why="$(check_nonroot "$pushed")" || die "$name: $why"
    log "$name: $why"
    printf '%s\n' "$pushed" >"$out/verified"
}

# cosign_verifies COSIGN NAME OUT REF [FLAG...]: COSIGN's verify and verify-attestation
# (slsaprovenance1) accept REF with the pipeline's public key.
cosign_verifies() {
    local cosign="$1" name="$2" out="$3" pushed="$4" version
    shift 4
    need_tool "$cosign"
    version="$(basename "$cosign")"
    "$cosign" verify --key "$PIPELINE_PUB" --insecure-ignore-tlog "$@" "$pushed" \
        >"$out/$version-verify.json" 2>"$out/$version-verify.log" ||
        { cat "$out/$version-verify.log" >&2; die "$name: $version verify failed for $pushed"; }
    "$cosign" verify-attestation --key "$PIPELINE_PUB" --insecure-ignore-tlog "$@" \
        --type slsaprovenance1 "$pushed" >"$out/$version-verify-attestation.json" \
        2>"$out/$version-verify-attestation.log" ||
        { cat "$out/$version-verify-attestation.log" >&2; die "$name: $version verify-attestation failed for $pushed"; }
    log "$name: $version verify + verify-attestation (slsaprovenance1): OK"
}

main() {
    [[ -f $PIPELINE_PUB ]] || die "no public key at $PIPELINE_PUB"
    local -a images
    if [[ $# -gt 0 ]]; then images=("$@"); else mapfile -t images < <(pipeline_images); fi
    local name
    for name in "${images[@]}"; do verify_image "$name"; done
}

main "$@"
