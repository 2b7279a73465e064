#!/usr/bin/env bash
# Lab 07 reference solution: the configurations as deploy/base/webhook ships them: opt-in with
# portcullis.dev/enforce=true (so removing the label is the break glass), kube-system and
# portcullis-system excluded by name, failurePolicy Fail on both, timeoutSeconds 10.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cp "$PORTCULLIS_ROOT/deploy/base/webhook/validatingwebhookconfiguration.yaml" \
    "$PORTCULLIS_ROOT/deploy/base/webhook/mutatingwebhookconfiguration.yaml" "$LAB_HOME/"
