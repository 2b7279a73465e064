#!/usr/bin/env bash
# A plausible wrong answer: restricted settings on the pod, but the container keeps running as
# root (runAsUser: 0, "the image needs it"). The container's setting wins over the pod's.
# expect: runAsUser
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i 's/^            allowPrivilegeEscalation: false$/            allowPrivilegeEscalation: false\n            runAsUser: 0/' "$LAB_HOME/deployment.yaml"
grep -q 'runAsUser: 0' "$LAB_HOME/deployment.yaml"
