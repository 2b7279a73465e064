#!/usr/bin/env bash
# A plausible wrong answer: the fix and the cause are right, but the evidence names a metric from
# memory (another tool's name) instead of one the webhook exports.
# expect: is not a metric the webhook exports
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i 's/portcullis_image_verifications_total/portcullis_signature_failures_total/' "$LAB_HOME/incident.md"
