#!/usr/bin/env bash
# A plausible wrong answer: the note is right, but "to unblock the team" the policy goes to warn
# mode instead of trusting the new key: deployments pass, and so would any unsigned image.
# expect: mode warn
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cp "$LAB_HOME/policies/jobs-images.yaml" "$LAB_HOME/run/jobs-images.orig"
bash "$LAB_DIR/solve.sh"
sed 's/^  mode: enforce$/  mode: warn/' "$LAB_HOME/run/jobs-images.orig" >"$LAB_HOME/policies/jobs-images.yaml"
grep -q 'mode: warn' "$LAB_HOME/policies/jobs-images.yaml"
