#!/usr/bin/env bash
# pipelines/validate/webhooks.sh: check "webhooks". The safety rules of py/webhook_safety.py for
# every admission webhook configuration in the renderings.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_renderings
PY "$PY_DIR/webhook_safety.py" "$WORK/rendered"
