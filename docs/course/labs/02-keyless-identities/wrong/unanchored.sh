#!/usr/bin/env bash
# A plausible wrong answer: the release identity with dots escaped but no ^ and no $,
#   and no claim. A regexp matches anywhere in the subject: a fork's branch named after the
#   release identity ends with it, and a branch main-evil starts with it.
# expect: refs/heads/github.com/portcullis-dev
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source=docs/course/labs/02-keyless-identities/signers.sh
. "$LAB_DIR/signers.sh"
bash "$LAB_DIR/solve.sh"
set_subject_regexp 'github\.com/portcullis-dev/portcullis/\.github/workflows/release\.yml@refs/heads/main'
drop_claims
