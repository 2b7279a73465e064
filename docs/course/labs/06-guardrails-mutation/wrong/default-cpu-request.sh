#!/usr/bin/env bash
# A plausible wrong answer: the record says log-shipper's CPU request is the defaults' 100m.
# The webhook defaults no CPU request where a CPU limit is set: the API server copies the limit.
# expect: log-shipper.yaml says requests.cpu is 100m
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i "s/^  cpu: 200m      # no CPU request.*$/  cpu: 100m/" "$LAB_HOME/log-shipper.yaml"
grep -q "^  cpu: 100m$" "$LAB_HOME/log-shipper.yaml"
