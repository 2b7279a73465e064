#!/usr/bin/env bash
# Stage 5, sign: a cosign-format signature of each pushed digest (never a tag).
# Usage: sign.sh [IMAGE...]
#
#   key-based  `portcullis sign --key $PIPELINE_KEY --bundle-format $PIPELINE_BUNDLE_FORMAT` (by
#              default cosign 3's format, a Sigstore bundle stored as an OCI referrer; the offline
#              path, and the one the admission policy trusts). Locally a throwaway key pair is made
#              under .work/pipeline/keys; in CI the key comes from a secret (PIPELINE_KEY + password).
#   keyless    PIPELINE_KEYLESS=1 (GitHub Actions): also `cosign sign --yes` with the workflow's
#              OIDC identity (Fulcio certificate, Rekor entry).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/images.sh"

main() {
    ensure_pipeline_key
    local -a images
    if [[ $# -gt 0 ]]; then images=("$@"); else mapfile -t images < <(pipeline_images); fi
    local name pushed
    for name in "${images[@]}"; do
        pushed="$(pushed_ref "$name")"
        # shellcheck disable=SC2046 # flags are words or nothing
        portcullis sign --key "$PIPELINE_KEY" --bundle-format "$PIPELINE_BUNDLE_FORMAT" \
            $(portcullis_registry_flags) "$pushed" ||
            die "portcullis sign failed for $pushed"
        if [[ ${PIPELINE_KEYLESS:-0} == 1 ]]; then
            need_tool "$COSIGN_BIN"
            "$COSIGN_BIN" sign --yes "$pushed" || die "keyless cosign sign failed for $pushed"
            log "$name: signed keyless (cosign, OIDC identity of this workflow)"
        fi
        log "$name: signed $pushed"
    done
}

main "$@"
