#!/usr/bin/env bash
# A plausible wrong answer: the hostPath is gone, and with it the cache mount the API needs.
# expect: /var/cache/jobs
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i '/volumeMounts:/,$d' "$LAB_HOME/deployment.yaml"
