#!/usr/bin/env bash
# Lab 02 reference solution: one identity, the whole subject anchored at both ends with every
# literal dot escaped, the issuer exact, and the source-repository-uri claim as a second lock on
# the repository (a fork's certificate names the fork there, whatever its branch is called).
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cat >"$LAB_HOME/policy.yaml" <<'YAML'
# Release images: signed keyless by the release workflow of portcullis-dev/portcullis, on main only.
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: release-signers
spec:
  mode: enforce
  images:
    - 127.0.0.1:*/release/**
  authorities:
    keyless:
      trustedRoot: lab-sigstore
      identities:
        - subjectRegExp: ^https://github\.com/portcullis-dev/portcullis/\.github/workflows/release\.yml@refs/heads/main$
          issuer: https://token.actions.githubusercontent.com
          claims:
            source-repository-uri: https://github.com/portcullis-dev/portcullis
YAML
