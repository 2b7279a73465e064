#!/usr/bin/env bash
# A plausible wrong answer: the image is signed, but the policy keeps the example's registry
# (policies/library/signed-images.example.yaml): it covers ghcr.io, not the lab registry, so it
# enforces nothing on lab/ images.
# expect: no ClusterImagePolicy matches
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i "s|\"$REGISTRY/lab/\*\*\"|\"ghcr.io/portcullis-dev/**\"|" "$LAB_HOME/policy.yaml"
grep -q 'ghcr.io/portcullis-dev/\*\*' "$LAB_HOME/policy.yaml"
