#!/usr/bin/env bash
# Lab 06 start: the report builder's Deployment as its team first wrote it, and the form where the
# student records what admission gives the log-shipper sidecar.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cp "$LAB_DIR/files/deployment.yaml" "$LAB_DIR/files/log-shipper.yaml" "$LAB_HOME/"
