#!/usr/bin/env bash
# A plausible wrong answer: anchored at the start only: without $ the subject need only begin with
#   the release identity, so the branch main-evil passes.
# expect: refs/heads/main-evil
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source=docs/course/labs/02-keyless-identities/signers.sh
. "$LAB_DIR/signers.sh"
bash "$LAB_DIR/solve.sh"
set_subject_regexp '^https://github\.com/portcullis-dev/portcullis/\.github/workflows/release\.yml@refs/heads/main'
