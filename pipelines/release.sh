#!/usr/bin/env bash
# The release half of the pipeline, as .github/workflows/release.yml runs it: bases -> build ->
# sbom -> scan -> push -> sign -> attest -> verify against a real registry, then
# $PIPELINE_OUT/digests.json ({"<image>": "sha256:..."}) and $PIPELINE_OUT/tag (the tag promotion
# writes beside the digests) for the promotion jobs, and $PIPELINE_OUT/pushed.json ([{"name",
# "image" (the repository pushed to), "digest"}]) for the keyless job's matrix.
#
# Needs (set by the workflow): PIPELINE_REGISTRY (default ghcr.io/<owner>), PIPELINE_IMAGES, RUST_IMAGE and
# RUNTIME_IMAGE (the official bases), PIPELINE_KEY/PIPELINE_PUB + PORTCULLIS_PASSWORD (the offline
# signing key), PORTCULLIS_REGISTRY_CONFIG (default ~/.docker/config.json: the GHCR login); optionally
# PIPELINE_KEYLESS=1 (cosign with the workflow's OIDC token; release.yml signs keyless in its own
# job instead, with .github/actions/sign) and PIPELINE_VULN_SCAN=1.
# The local end-to-end run (loopback registry, admission replay, tampering) is pipelines/pipeline.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/images.sh"

STAGES="$PORTCULLIS_ROOT/pipelines/stages"

main() {
    # GHCR wants lower-case repository names; GitHub owners may have capitals.
    if [[ -z ${PIPELINE_REGISTRY:-} && -n ${GITHUB_REPOSITORY_OWNER:-} ]]; then
        export PIPELINE_REGISTRY="ghcr.io/${GITHUB_REPOSITORY_OWNER,,}"
    fi
    [[ -n ${PIPELINE_REGISTRY:-} ]] || die "set PIPELINE_REGISTRY (e.g. ghcr.io/portcullis-dev)"
    # The registry login (docker/login-action writes it) for portcullis sign/attest/verify.
    if [[ -z ${PORTCULLIS_REGISTRY_CONFIG:-} && -f ${HOME:-/nonexistent}/.docker/config.json ]]; then
        export PORTCULLIS_REGISTRY_CONFIG="$HOME/.docker/config.json"
    fi
    [[ -n ${PIPELINE_IMAGES:-} ]] || die "set PIPELINE_IMAGES (e.g. \"jobs-api jobs-worker portcullis\")"
    export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(source_date_epoch)}"
    rm -rf "$PIPELINE_OUT" && mkdir -p "$PIPELINE_OUT"
    "$PORTCULLIS_ROOT/pipelines/bootstrap-images.sh"
    cargo build -q --release --locked -p portcullis-webhook
    export PORTCULLIS_BIN="${PORTCULLIS_BIN:-$PORTCULLIS_ROOT/target/release/portcullis}"
    local stage start
    for stage in bases build sbom scan push sign attest verify; do
        printf '\n==> %s\n' "$stage"
        start="$(now_s)"
        "$STAGES/$stage.sh" || die "stage $stage failed"
        record_time "$stage" "$start"
    done
    local name json='{}' pushed='[]'
    for name in $PIPELINE_IMAGES; do
        json="$(jq -c --arg n "$name" --arg d "$(image_digest "$name")" '. + {($n): $d}' <<<"$json")"
        pushed="$(jq -c --arg n "$name" --arg i "$(image_ref "$name")" --arg d "$(image_digest "$name")" \
            '. + [{name: $n, image: $i, digest: $d}]' <<<"$pushed")"
    done
    printf '%s\n' "$json" >"$PIPELINE_OUT/digests.json"
    printf '%s\n' "$pushed" >"$PIPELINE_OUT/pushed.json"
    # The tag the promotion writes beside the digest: the release version, else sha-<short>.
    image_tags "${PIPELINE_IMAGES%% *}" | head -n 1 >"$PIPELINE_OUT/tag"
    column -t -s$'\t' "$PIPELINE_OUT/timings.tsv"
    log "digests: $json"
}

main "$@"
