#!/usr/bin/env bash
# A plausible wrong answer: the shipped example's condition, on the repository alone. Any
# workflow of the repository, on any branch, passes: debug.yml, and release.yml on a feature branch.
# expect: build-1 (provenance: .github/workflows/debug.yml of https://github.com/portcullis-dev/portcullis on refs/heads/main) was admitted
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
# Keep the first condition (repository), drop the ref and path ones.
sed -i '/workflow\.ref$/,$d' "$LAB_HOME/policy.yaml"
grep -q 'workflow.repository' "$LAB_HOME/policy.yaml"
