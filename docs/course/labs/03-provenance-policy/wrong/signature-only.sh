#!/usr/bin/env bash
# A plausible wrong answer: "the release key signed it, so it is a release". Every build here is
# signed by that key, including the one with no provenance at all.
# expect: build-5 (signed, no provenance) was admitted
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i '/^  attestations:$/,$d' "$LAB_HOME/policy.yaml"
