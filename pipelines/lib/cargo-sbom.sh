# shellcheck shell=bash
# pipelines/lib/cargo-sbom.sh: CycloneDX SBOMs of the workspace's binaries, made by the pinned
# cargo-cyclonedx (pipelines/bootstrap-images.sh installs it). Shared by the image pipeline
# (stages/sbom.sh) and the CLI release (package.sh). Source it after lib/common.sh:
#
#   cargo_cyclonedx_binaries DIR TARGET
#       In DIR, a throwaway copy of the workspace (cargo-cyclonedx writes <binary>_bin.cdx.json
#       next to each package's Cargo.toml): one CycloneDX 1.5 JSON SBOM per binary, for the Rust
#       target TARGET, normal dependencies only (no dev- or build-dependencies). The copy's
#       absolute folder, which cargo puts in the bom-refs of workspace crates, is replaced by "."
#       (path+file://./webhook#portcullis-webhook@0.1.0): the same sources give the same SBOM
#       wherever they were copied. The timestamp is SOURCE_DATE_EPOCH when set.
#   copy_workspace DEST   the working tree without target/, .work/ and .git/, into DEST

CARGO_CYCLONEDX="${CARGO_CYCLONEDX:-$PORTCULLIS_WORK/tools/bin/cargo-cyclonedx}"

cargo_cyclonedx_binaries() {
    local dir="$1" target="$2" abs f
    [[ -x $CARGO_CYCLONEDX ]] || die "$CARGO_CYCLONEDX is missing: run pipelines/bootstrap-images.sh cargo-cyclonedx"
    abs="$(cd "$dir" && pwd -P)"
    (cd "$abs" && "$CARGO_CYCLONEDX" cyclonedx --quiet --format json --spec-version 1.5 \
        --target "$target" --no-build-deps --describe binaries) || die "cargo cyclonedx failed in $dir"
    while IFS= read -r -d '' f; do
        jq --arg abs "$abs" 'walk(if type == "string" then split($abs) | join(".") else . end)' "$f" >"$f.new" ||
            die "rewriting the paths in $f failed"
        mv "$f.new" "$f"
    done < <(find "$abs" -name '*_bin.cdx.json' -not -path '*/target/*' -print0)
}

copy_workspace() {
    mkdir -p "$1"
    tar -C "$PORTCULLIS_ROOT" --exclude=./target --exclude=./.work --exclude=./.git -cf - . | tar -C "$1" -xf - ||
        die "copying the workspace to $1 failed"
}
