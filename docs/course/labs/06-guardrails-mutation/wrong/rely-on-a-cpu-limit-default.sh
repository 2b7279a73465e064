#!/usr/bin/env bash
# A plausible wrong answer: log-shipper left to the webhook's defaults entirely, as the team
# first did, assuming the defaults give it a CPU limit too. They add none, and the namespace
# requires one.
# expect: container "log-shipper" (spec.template.spec.containers[1].resources.limits.cpu)
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i "/^          resources:$/{N;N;/cpu: 200m/d}" "$LAB_HOME/deployment.yaml"
sed -i "s/^  cpu: 200m      # written.*$/  cpu: 100m/" "$LAB_HOME/log-shipper.yaml"
! grep -q "cpu: 200m" "$LAB_HOME/deployment.yaml"
