#!/usr/bin/env bash
# Lab 03 reference solution: the release key, and SLSA v1 provenance whose workflow is exactly
# release.yml of portcullis-dev/portcullis, run on main: repository, ref and path, all three.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
{
    lab_key_policy release-provenance "127.0.0.1:*/lab/**" "$LAB_HOME/release.pub"
    cat <<'YAML'
  attestations:
    - type: slsaprovenance1
      conditions:
        - path: $.buildDefinition.externalParameters.workflow.repository
          operator: equals
          value: https://github.com/portcullis-dev/portcullis
        - path: $.buildDefinition.externalParameters.workflow.ref
          operator: equals
          value: refs/heads/main
        - path: $.buildDefinition.externalParameters.workflow.path
          operator: equals
          value: .github/workflows/release.yml
YAML
} >"$LAB_HOME/policy.yaml"
