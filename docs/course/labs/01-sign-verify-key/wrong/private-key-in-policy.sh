#!/usr/bin/env bash
# A plausible wrong answer: "the key" pasted into the policy is cosign.key, the private half.
# A policy is read by everyone who can read the cluster's objects.
# expect: policy.yaml contains a private key
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
cd "$LAB_HOME"
lab_key_policy lab-images "$REGISTRY/lab/**" cosign.key >policy.yaml
