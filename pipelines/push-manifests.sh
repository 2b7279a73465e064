#!/usr/bin/env bash
# Push a deploy/ folder as a Flux OCI artifact (what `flux push artifact` makes), so the prod
# cluster's OCIRepository (deploy/clusters/prod/source.yaml) can pull, verify and apply it.
# Usage:
#   push-manifests.sh [--path DIR] [--revision REV] [--out FILE] REPOSITORY:TAG
#
# The artifact: an OCI image manifest whose config has media type
# application/vnd.cncf.flux.config.v1+json and whose one layer is the folder's files as a
# tar+gzip (application/vnd.cncf.flux.content.v1.tar+gzip), paths relative to DIR (so prod's
# Kustomizations say ./overlays/prod/...), annotated with org.opencontainers.image.source,
# .revision and .created. The tarball is reproducible: sorted names, SOURCE_DATE_EPOCH mtimes,
# numeric root owner, gzip without a name or time. It is written as an OCI layout and pushed with
# skopeo (digests preserved); the manifest digest is printed and written to FILE (--out).
# Signing is the caller's: release.yml signs keyless with cosign, `make pipeline` with its key.
#
# DIR defaults to deploy/; REV to "<ref name>@sha1:<commit>"; registry credentials come from the
# docker config skopeo reads; plain HTTP for loopback registries (PIPELINE_INSECURE, lib/images.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/images.sh"

CONFIG_TYPE="application/vnd.cncf.flux.config.v1+json"
CONTENT_TYPE="application/vnd.cncf.flux.content.v1.tar+gzip"

usage() { die "usage: push-manifests.sh [--path DIR] [--revision REV] [--out FILE] REPOSITORY:TAG"; }

# blob LAYOUT FILE: moves FILE into LAYOUT's blob store; prints "sha256:<hex> <size>".
blob() {
    local hex size
    hex="$(sha256sum "$2" | cut -d' ' -f1)"
    size="$(stat -c %s "$2")"
    mv "$2" "$1/blobs/sha256/$hex"
    echo "sha256:$hex $size"
}

main() {
    local dir="$PORTCULLIS_ROOT/deploy" revision="" out="" target=""
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --path) dir="${2:-}"; shift 2 || usage ;;
        --revision) revision="${2:-}"; shift 2 || usage ;;
        --out) out="${2:-}"; shift 2 || usage ;;
        -*) usage ;;
        *) [[ -z $target ]] || usage; target="$1"; shift ;;
        esac
    done
    [[ $target =~ ^[^@]+:[0-9A-Za-z_][0-9A-Za-z_.-]*$ && $target == */* ]] || usage
    [[ -d $dir ]] || die "no folder $dir"
    local commit sde
    commit="$(git -C "$PORTCULLIS_ROOT" rev-parse HEAD)"
    sde="$(source_date_epoch)"
    [[ -n $revision ]] || revision="${GITHUB_REF_NAME:-$(git -C "$PORTCULLIS_ROOT" rev-parse --abbrev-ref HEAD)}@sha1:$commit"

    local layout="$PIPELINE_WORK/manifests-artifact"
    rm -rf "$layout" && mkdir -p "$layout/blobs/sha256"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
    # Contents without a leading ./ (as flux push writes them), sorted, owned by 0:0, dated SDE.
    (cd "$dir" && find . -type f -printf '%P\n' | LC_ALL=C sort) |
        tar -C "$dir" --mtime="@$sde" --owner=0 --group=0 --numeric-owner --format=gnu \
            -T - -cf - | gzip -n -9 >"$layout/content"
    printf '{}' >"$layout/config"
    local content config
    read -r -a content <<<"$(blob "$layout" "$layout/content")"
    read -r -a config <<<"$(blob "$layout" "$layout/config")"
    jq -n --arg ct "$CONFIG_TYPE" --arg cd "${config[0]}" --argjson cs "${config[1]}" \
        --arg lt "$CONTENT_TYPE" --arg ld "${content[0]}" --argjson ls "${content[1]}" \
        --arg source "$(source_repository)" --arg revision "$revision" \
        --arg created "$(date -u -d "@$sde" +%Y-%m-%dT%H:%M:%SZ)" '{
          schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: {mediaType: $ct, digest: $cd, size: $cs},
          layers: [{mediaType: $lt, digest: $ld, size: $ls}],
          annotations: {"org.opencontainers.image.created": $created,
                        "org.opencontainers.image.source": $source,
                        "org.opencontainers.image.revision": $revision}}' | jq -cj . >"$layout/manifest"
    local manifest tag="${target##*:}"
    read -r -a manifest <<<"$(blob "$layout" "$layout/manifest")"
    jq -nc --arg d "${manifest[0]}" --argjson s "${manifest[1]}" --arg tag "$tag" '{schemaVersion: 2,
      manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
                   annotations: {"org.opencontainers.image.ref.name": $tag}}]}' >"$layout/index.json"

    PIPELINE_REGISTRY="${target%/*}"
    # shellcheck disable=SC2046 # flags are words or nothing
    skopeo copy --quiet --preserve-digests $(skopeo_dest_flags) "oci:$layout:$tag" "docker://$target" ||
        die "pushing the manifests artifact to $target failed"
    [[ -z $out ]] || printf '%s\n' "${manifest[0]}" >"$out"
    # On stderr: stdout is the digest alone, for callers that capture it.
    log "pushed ${dir#"$PORTCULLIS_ROOT"/} as $target@${manifest[0]} (revision $revision, $(tar -tzf "$layout/blobs/sha256/${content[0]#sha256:}" | wc -l) files)" >&2
    echo "${manifest[0]}"
}

main "$@"
