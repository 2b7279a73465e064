#!/usr/bin/env bash
# Lab 07 start: the webhook configurations as a team shipped them for its cluster, with the choices
# that turned last night's Portcullis outage into a cluster-wide one, and the cluster they serve.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cp "$LAB_DIR/files/validatingwebhookconfiguration.yaml" "$LAB_DIR/files/mutatingwebhookconfiguration.yaml" \
    "$LAB_DIR/files/cluster.yaml" "$LAB_HOME/"
