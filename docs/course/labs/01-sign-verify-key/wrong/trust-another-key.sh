#!/usr/bin/env bash
# A plausible wrong answer: a second key pair made "to start clean" after signing; the policy
# trusts the new public key, but lab/app:1.0 was signed with the first one.
# expect: your policy denies lab/app:1.0 (signed): lab-images/verifyImage
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
cd "$LAB_HOME"
PORTCULLIS_PASSWORD=lab01 "$LAB_BIN" keygen --output-key-prefix second >/dev/null 2>&1
lab_key_policy lab-images "$REGISTRY/lab/**" second.pub >policy.yaml
