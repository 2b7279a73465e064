#!/usr/bin/env bash
# Stage 2, sbom: CycloneDX SBOMs for each built image. Usage: sbom.sh [IMAGE...]
#
#   sbom.cdx.json        the Rust dependency graph of the binary the image ships: `cargo cyclonedx`
#                        on the build's source snapshot, for the image's package and its target,
#                        normal dependencies only (no dev- or build-dependencies). This is the one
#                        attested (portcullis attest --type cyclonedx) and scanned for CVEs in CI.
#   sbom-image.cdx.json  what trivy finds in the image's file system (trivy image --input on the
#                        OCI layout). For a FROM-scratch image with a plain Rust binary that is
#                        little: trivy recognises Rust binaries only when built with
#                        cargo-auditable. Kept as an artifact, not attested.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/images.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/cargo-sbom.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/cargo-sbom.sh"

CONTEXT="$PIPELINE_OUT/context"

# The SBOMs of every binary in the workspace, made once per run: cargo-cyclonedx writes
# <binary>_bin.cdx.json next to each package's Cargo.toml, so it runs on a throwaway copy of the
# snapshot (neither the snapshot nor the working tree gets files added). The same call makes the
# CLI release's SBOM (pipelines/package.sh).
cargo_sboms() {
    local tmp="$PIPELINE_OUT/sbom-work"
    if [[ -d $tmp ]]; then return; fi
    rm -rf "$tmp.new"
    cp -a "$CONTEXT" "$tmp.new"
    cargo_cyclonedx_binaries "$tmp.new" x86_64-unknown-linux-gnu
    mv "$tmp.new" "$tmp"
}

cargo_sbom() {
    local name="$1" out pkg dir f
    out="$(image_out "$name")"
    pkg="$(image_package "$name")"
    cargo_sboms
    dir="$(cd "$PIPELINE_OUT/sbom-work" && cargo metadata --format-version 1 --no-deps --locked --offline |
        jq -r --arg p "$pkg" '.packages[] | select(.name == $p) | .manifest_path' | xargs -r dirname)"
    [[ -n $dir && -d $dir ]] || die "package $pkg not found in the workspace"
    # Each image ships the binary named like the image.
    f="$dir/${name}_bin.cdx.json"
    [[ -f $f ]] || die "cargo cyclonedx wrote no SBOM for the binary $name of $pkg (looked for $f)"
    # Name the image as the SBOM's subject besides the crate: the digest ties the two together.
    jq --arg image "$(image_upstream "$name")" --arg digest "$(image_digest "$name")" \
        '.metadata.properties = ((.metadata.properties // []) + [
           {name: "portcullis:image", value: $image}, {name: "portcullis:image-digest", value: $digest}])' \
        "$f" >"$out/sbom.cdx.json"
}

image_sbom() {
    local name="$1" out
    out="$(image_out "$name")"
    "$TRIVY" image --quiet --cache-dir "$PIPELINE_WORK/trivy-cache" --skip-db-update --skip-java-db-update \
        --format cyclonedx --output "$out/sbom-image.cdx.json" --input "$out/oci" ||
        die "trivy could not make an SBOM of $name's image"
}

main() {
    need_tool "$CARGO_CYCLONEDX"
    need_tool "$TRIVY"
    local -a images
    if [[ $# -gt 0 ]]; then images=("$@"); else mapfile -t images < <(pipeline_images); fi
    local name out
    rm -rf "$PIPELINE_OUT/sbom-work"
    for name in "${images[@]}"; do
        out="$(image_out "$name")"
        cargo_sbom "$name"
        image_sbom "$name"
        log "$name: sbom.cdx.json $(jq '.components | length' "$out/sbom.cdx.json") crates" \
            "(CycloneDX $(jq -r .specVersion "$out/sbom.cdx.json")); sbom-image.cdx.json" \
            "$(jq '(.components // []) | length' "$out/sbom-image.cdx.json") components found by trivy in the image"
    done
    rm -rf "$PIPELINE_OUT/sbom-work"
}

main "$@"
