#!/usr/bin/env bash
# Stage 9, manifests: the promoted deploy/ folder as a signed Flux OCI artifact, the way
# release.yml's prod promotion publishes what the prod cluster applies
# (deploy/clusters/prod/source.yaml). Usage: manifests.sh [--env ENV]
#
#   push    pipelines/push-manifests.sh: deploy/ after the promote stage (or the repository's,
#           when promote has not run) as $PIPELINE_REGISTRY/portcullis-manifests:<version>
#   sign    key-based with the pipeline key, in $PIPELINE_BUNDLE_FORMAT like the images (release.yml
#           signs keyless with the workflow's OIDC identity: the identity source.yaml's verify
#           block trusts). Flux's source-controller reads cosign 3's bundles since Flux 2.8.
#   check   the artifact is what Flux's source-controller pulls: Flux media types, the
#           revision annotation, the environment's overlays inside; the signature verifies
#           (portcullis, the real cosign 3.1, and cosign 2.5 when the format is classic) and
#           names the artifact's digest.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/images.sh"

main() {
    local env="${PIPELINE_PROMOTE_ENV:-stage}"
    [[ ${1:-} != --env ]] || env="${2:?usage: manifests.sh [--env ENV]}"
    ensure_pipeline_key
    local dir="$PIPELINE_OUT/promote-root/deploy"
    [[ -d $dir ]] || dir="$PORTCULLIS_ROOT/deploy"
    [[ -d $dir/overlays/$env ]] || die "no overlays for $env in $dir"
    local ref version digest out="$PIPELINE_OUT/manifests"
    version="$(workspace_version)"
    ref="$PIPELINE_REGISTRY/portcullis-manifests"
    mkdir -p "$out"
    digest="$("$PORTCULLIS_ROOT/pipelines/push-manifests.sh" --path "$dir" --out "$out/digest" "$ref:$version")"
    local -a pflags cflags
    read -r -a pflags <<<"$(portcullis_registry_flags)"
    read -r -a cflags <<<"$(cosign_registry_flags)"
    portcullis sign --key "$PIPELINE_KEY" --bundle-format "$PIPELINE_BUNDLE_FORMAT" "${pflags[@]}" "$ref@$digest" || die "signing $ref@$digest failed"

    # shellcheck disable=SC2046 # flags are words or nothing
    skopeo inspect --raw $(skopeo_tls_flags) "docker://$ref:$version" >"$out/manifest.json"
    jq -e '.config.mediaType == "application/vnd.cncf.flux.config.v1+json"
           and (.layers | length == 1)
           and .layers[0].mediaType == "application/vnd.cncf.flux.content.v1.tar+gzip"
           and (.annotations["org.opencontainers.image.revision"] | test("@sha1:[0-9a-f]{40}$"))' \
        "$out/manifest.json" >/dev/null || die "$ref:$version is not a Flux artifact: $(jq -c . "$out/manifest.json")"
    local layer
    layer="$(jq -r '.layers[0].digest' "$out/manifest.json")"
    # shellcheck disable=SC2046
    skopeo copy --quiet $(skopeo_src_flags) "docker://$ref:$version" "dir:$out/pulled" ||
        die "pulling $ref:$version back failed"
    # grep without -q reads all of tar's output (-q would stop early and fail the pipe).
    tar -tzf "$out/pulled/${layer#sha256:}" | grep -x "overlays/$env/webhook/kustomization.yaml" >/dev/null ||
        die "the artifact does not hold overlays/$env/webhook/kustomization.yaml at its root"
    portcullis verify --key "$PIPELINE_PUB" "${pflags[@]}" "$ref@$digest" >/dev/null ||
        die "the artifact's signature does not verify"
    local cosign
    for cosign in "$COSIGN3_BIN" "$COSIGN_BIN"; do
        [[ $cosign == "$COSIGN3_BIN" || $PIPELINE_BUNDLE_FORMAT == classic ]] || continue
        need_tool "$cosign"
        "$cosign" verify --key "$PIPELINE_PUB" --insecure-ignore-tlog "${cflags[@]}" "$ref@$digest" \
            >/dev/null 2>"$out/$(basename "$cosign")-verify.log" ||
            { cat "$out/$(basename "$cosign")-verify.log" >&2; die "$(basename "$cosign") does not verify the artifact's signature"; }
    done
    rm -rf "$out/pulled"
    log "manifests: $ref:$version@$digest, Flux media types, overlays/$env inside, signed and verified (portcullis, cosign)"
}

main "$@"
