#!/usr/bin/env bash
# A plausible wrong answer: drop ALL, but keep adding NET_ADMIN back.
# expect: NET_ADMIN
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i 's/^              drop: \[ALL\]$/              drop: [ALL]\n              add: [NET_ADMIN]/' "$LAB_HOME/deployment.yaml"
grep -q 'add: \[NET_ADMIN\]' "$LAB_HOME/deployment.yaml"
