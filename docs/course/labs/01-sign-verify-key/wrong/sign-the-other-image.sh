#!/usr/bin/env bash
# A plausible wrong answer: the right key and policy, but the signature went on lab/other:1.0
# (the image names differ by one word), so lab/app:1.0 is still unsigned.
# expect: you signed the wrong image
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cd "$LAB_HOME"
export PORTCULLIS_PASSWORD=lab01
"$LAB_BIN" keygen >/dev/null 2>&1
"$LAB_BIN" sign --key cosign.key --allow-http-registry "$REGISTRY/lab/other:1.0" >/dev/null 2>&1
lab_key_policy lab-images "$REGISTRY/lab/**" cosign.pub >policy.yaml
