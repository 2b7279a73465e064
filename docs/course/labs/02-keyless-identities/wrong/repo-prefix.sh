#!/usr/bin/env bash
# A plausible wrong answer: "anything our repository's workflows sign": a prefix admits every workflow
#   and branch of the repository, and every repository whose name starts with portcullis.
# expect: portcullis-dev/portcullis-evil
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source=docs/course/labs/02-keyless-identities/signers.sh
. "$LAB_DIR/signers.sh"
bash "$LAB_DIR/solve.sh"
set_subject_regexp '^https://github\.com/portcullis-dev/portcullis'
drop_claims
