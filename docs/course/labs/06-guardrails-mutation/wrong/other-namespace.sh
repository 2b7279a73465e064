#!/usr/bin/env bash
# A plausible wrong answer: move the Deployment to a namespace without its own guardrails.
# expect: report-builder is in namespace batch
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i "s/^  namespace: reports$/  namespace: batch/" "$LAB_HOME/deployment.yaml"
grep -q "namespace: batch" "$LAB_HOME/deployment.yaml"
