#!/usr/bin/env bash
# A plausible wrong answer: "any branch of our repository is fine": refs/heads/.* admits a release
#   built from any branch anyone may push, feature branches included.
# expect: refs/heads/feature
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source=docs/course/labs/02-keyless-identities/signers.sh
. "$LAB_DIR/signers.sh"
bash "$LAB_DIR/solve.sh"
set_subject_regexp '^https://github\.com/portcullis-dev/portcullis/\.github/workflows/release\.yml@refs/heads/.*$'
