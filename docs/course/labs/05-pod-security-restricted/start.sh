#!/usr/bin/env bash
# Lab 05 start: the jobs API's Deployment as its team first wrote it.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cp "$LAB_DIR/files/deployment.yaml" "$LAB_HOME/deployment.yaml"
