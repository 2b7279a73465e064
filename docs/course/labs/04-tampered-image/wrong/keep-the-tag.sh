#!/usr/bin/env bash
# A plausible wrong answer: the incident is written up, but the Deployment keeps running
# lab/app:1.0 by tag ("the team will re-push the right image under it").
# expect: still runs
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i 's|@sha256:[0-9a-f]*$||' "$LAB_HOME/deployment.yaml"
grep -q 'lab/app:1.0$' "$LAB_HOME/deployment.yaml"
