#!/usr/bin/env bash
# A plausible wrong answer: "the builder may need more, give it 4Gi": the cluster allows up to
# 64Gi, but the reports namespace caps limits at 3Gi.
# expect: expected at most 3Gi, found 4Gi
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i "s/^              memory: 2Gi$/              memory: 4Gi/" "$LAB_HOME/deployment.yaml"
grep -q "memory: 4Gi" "$LAB_HOME/deployment.yaml"
