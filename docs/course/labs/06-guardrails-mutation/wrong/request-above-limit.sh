#!/usr/bin/env bash
# A plausible wrong answer: request and limit swapped for the builder's CPU (request 1, limit
# 500m). Every guardrail passes, but the API server refuses a request above its limit.
# expect: resources.requests.cpu 1 is above its limit 500m
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i '/name: builder/,/name: log-shipper/{s/cpu: 500m/cpu: REQ/; s/cpu: "1"/cpu: 500m/; s/cpu: REQ/cpu: "1"/}' "$LAB_HOME/deployment.yaml"
grep -q "cpu: \"1\"" "$LAB_HOME/deployment.yaml"
