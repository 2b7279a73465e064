#!/usr/bin/env bash
# Stage 6, attest: two signed in-toto attestations on each pushed digest. Usage: attest.sh [IMAGE...]
#
#   SLSA provenance v1 (--type slsaprovenance1), generated here from what the build stage recorded
#   ($PIPELINE_OUT/<image>/build.json and source.json), never typed by hand: the source repository,
#   commit and ref (and whether the tree was dirty), the Dockerfile and build arguments, the base
#   images resolved to digests, the builder (buildah version, flags, storage driver), the invoking
#   workflow, start and finish times. Written to $PIPELINE_OUT/<image>/provenance.json.
#   CycloneDX SBOM (--type cyclonedx): sbom.cdx.json from the sbom stage.
#
# Key-based with `portcullis attest`; with PIPELINE_KEYLESS=1 also keyless with `cosign attest`.
# The predicate comes from lib/provenance.sh (`portcullis provenance`); its build type is
# documented in docs/images.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/images.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/provenance.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/provenance.sh"

main() {
    ensure_pipeline_key
    local -a images
    if [[ $# -gt 0 ]]; then images=("$@"); else mapfile -t images < <(pipeline_images); fi
    local name out pushed flags
    flags="--bundle-format $PIPELINE_BUNDLE_FORMAT $(portcullis_registry_flags)"
    for name in "${images[@]}"; do
        out="$(image_out "$name")"
        pushed="$(pushed_ref "$name")"
        [[ -s $out/sbom.cdx.json ]] || die "$name has no SBOM: run pipelines/stages/sbom.sh first"
        provenance "$name" "$out/provenance.json"
        # shellcheck disable=SC2086 # flags are words or nothing
        portcullis attest --key "$PIPELINE_KEY" $flags --type slsaprovenance1 \
            --predicate "$out/provenance.json" "$pushed" || die "attesting provenance for $pushed failed"
        # shellcheck disable=SC2086
        portcullis attest --key "$PIPELINE_KEY" $flags --type cyclonedx \
            --predicate "$out/sbom.cdx.json" "$pushed" || die "attesting the SBOM for $pushed failed"
        if [[ ${PIPELINE_KEYLESS:-0} == 1 ]]; then
            need_tool "$COSIGN_BIN"
            "$COSIGN_BIN" attest --yes --type slsaprovenance1 --predicate "$out/provenance.json" "$pushed" ||
                die "keyless cosign attest (provenance) failed for $pushed"
            "$COSIGN_BIN" attest --yes --type cyclonedx --predicate "$out/sbom.cdx.json" "$pushed" ||
                die "keyless cosign attest (SBOM) failed for $pushed"
        fi
        log "$name: attested SLSA provenance v1 (commit $(jq -r '.buildDefinition.resolvedDependencies[0].digest.gitCommit[:12]' "$out/provenance.json")," \
            "builder $(jq -r .runDetails.builder.id "$out/provenance.json")) and the CycloneDX SBOM"
    done
}

main "$@"
