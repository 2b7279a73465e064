#!/usr/bin/env bash
# release.yml's prod promotion, after promote-pr.sh wrote the verified digests into
# deploy/overlays/prod: publish deploy/ as the Flux OCI artifact the prod cluster applies
# (pipelines/push-manifests.sh) and sign it keyless with cosign as this workflow, the identity
# deploy/clusters/prod/source.yaml trusts. Usage: publish-manifests.sh TAG
# Needs GITHUB_REPOSITORY_OWNER (or PIPELINE_REGISTRY), a registry login skopeo and cosign read,
# an OIDC token for cosign (id-token: write), and cosign on PATH.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

main() {
    local tag="${1:-}" registry repo digest
    [[ $tag =~ ^[0-9A-Za-z][0-9A-Za-z.+-]*$ ]] || die "usage: publish-manifests.sh TAG (got '${tag}')"
    registry="${PIPELINE_REGISTRY:-ghcr.io/${GITHUB_REPOSITORY_OWNER,,}}"
    [[ $registry != ghcr.io/ ]] || die "set GITHUB_REPOSITORY_OWNER or PIPELINE_REGISTRY"
    command -v cosign >/dev/null || die "cosign is not on PATH (sigstore/cosign-installer)"
    repo="$registry/portcullis-manifests"
    digest="$("$PORTCULLIS_ROOT/pipelines/push-manifests.sh" "$repo:$tag")"
    cosign sign --yes "$repo@$digest" || die "keyless cosign sign failed for $repo@$digest"
    log "published $repo:$tag@$digest, signed keyless as this workflow"
}

main "$@"
