#!/usr/bin/env bash
# A plausible wrong answer: "an outage must never block anyone", so failurePolicy Ignore on both
# webhooks (the dev overlay's choice) with the selector fixed. Down, nothing is checked at all.
# expect: failurePolicy
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i 's/failurePolicy: Fail/failurePolicy: Ignore/' "$LAB_HOME"/*webhookconfiguration.yaml
grep -q 'failurePolicy: Ignore' "$LAB_HOME/validatingwebhookconfiguration.yaml"
