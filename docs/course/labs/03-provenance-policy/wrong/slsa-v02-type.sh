#!/usr/bin/env bash
# A plausible wrong answer: the right conditions under the type of the old SLSA v0.2 predicate
# (`slsaprovenance`, https://slsa.dev/provenance/v0.2). The builds carry v1 provenance, so even
# the release build has no attestation of that type.
# expect: build-2 (provenance: .github/workflows/release.yml of https://github.com/portcullis-dev/portcullis on refs/heads/main) was denied, but it is the release build
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i 's/- type: slsaprovenance1$/- type: slsaprovenance/' "$LAB_HOME/policy.yaml"
grep -q 'type: slsaprovenance$' "$LAB_HOME/policy.yaml"
