#!/usr/bin/env bash
# Stage 4, push: each built OCI layout to $PIPELINE_REGISTRY/<image> under every tag of the build,
# with the manifest digest preserved, then read back from the registry to prove the tag resolves to
# the digest that was built (and scanned). Usage: push.sh [IMAGE...]
# Writes $PIPELINE_OUT/<image>/pushed: "<registry>/<image>@sha256:...".
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/images.sh"

# registry_digest REF: the digest the registry serves for REF (skopeo sends Docker v2 and OCI
# Accept headers together, so the registry never converts the manifest).
registry_digest() {
    # shellcheck disable=SC2046 # flags are words or nothing
    echo "sha256:$(skopeo inspect --raw $(skopeo_tls_flags) "docker://$1" | sha256sum | cut -d' ' -f1)"
}

push_image() {
    local name="$1" out ref digest first tag got
    out="$(image_out "$name")"
    ref="$(image_ref "$name")"
    digest="$(image_digest "$name")"
    first="$(image_tags "$name" | head -n 1)"
    while IFS= read -r tag; do
        # shellcheck disable=SC2046
        skopeo copy --quiet --preserve-digests $(skopeo_dest_flags) \
            "oci:$out/oci:$first" "docker://$ref:$tag" || die "pushing $name to $ref:$tag failed"
        got="$(registry_digest "$ref:$tag")"
        [[ $got == "$digest" ]] || die "$ref:$tag resolves to $got, but the build produced $digest"
        log "$name: pushed $ref:$tag -> $digest"
    done < <(image_tags "$name")
    printf '%s@%s\n' "$ref" "$digest" >"$out/pushed"
}

main() {
    local -a images
    if [[ $# -gt 0 ]]; then images=("$@"); else mapfile -t images < <(pipeline_images); fi
    local name
    for name in "${images[@]}"; do push_image "$name"; done
}

main "$@"
