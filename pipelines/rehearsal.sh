#!/usr/bin/env bash
# make rehearsal: the admission rehearsal (pipelines/stages/rehearse.sh) on the image pipeline's
# images. After a `make pipeline` run it replays the chain from the push stage on the images
# already built (push, sign, attest, verify, promote, manifests, rehearse: a few minutes);
# without one it runs the whole pipeline first. What the rehearsal does, and that it acts like an
# API server without being one: docs/rehearsal.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/images.sh"

built() {
    local name
    [[ -f $PIPELINE_OUT/source.json ]] || return 1
    for name in $(pipeline_images); do
        [[ -s $(image_out "$name")/digest && -d $(image_out "$name")/oci ]] || return 1
    done
}

if built; then
    log "replaying from the push stage on the images of the last pipeline run"
    PIPELINE_FROM=push exec "$PORTCULLIS_ROOT/pipelines/pipeline.sh"
fi
log "no pipeline run to replay: running the whole pipeline (about 15 minutes the first time)"
exec "$PORTCULLIS_ROOT/pipelines/pipeline.sh"
