#!/usr/bin/env bash
# A plausible wrong answer: the fix is right, but the note blames the registry ("probably rate
# limiting, we saw 404s") instead of the key the metrics and log name.
# expect: blames the registry
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
cat >"$LAB_HOME/incident.md" <<'MD'
cause: the registry rate-limits the webhook (429s), so image lookups fail and deployments are denied
evidence: portcullis_registry_requests_total has 404s; log field error
MD
