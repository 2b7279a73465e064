#!/usr/bin/env bash
# A plausible wrong answer: everything fixed but the timeout, left at the API server's maximum
# "so slow registries have time": a hung webhook then holds every matching request 30 s.
# expect: timeoutSeconds is 30
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i 's/timeoutSeconds: 10/timeoutSeconds: 30/' "$LAB_HOME"/*webhookconfiguration.yaml
grep -q 'timeoutSeconds: 30' "$LAB_HOME/validatingwebhookconfiguration.yaml"
