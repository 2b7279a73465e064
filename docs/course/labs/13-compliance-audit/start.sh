#!/usr/bin/env bash
# Lab 13 start: the shop's manifests (a Deployment, a StatefulSet, a CronJob) as their teams wrote
# them, with findings across several Pod Security and CIS 5.2 controls, and an empty evidence/.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cp -r "$LAB_DIR/files/manifests" "$LAB_HOME/manifests"
mkdir -p "$LAB_HOME/evidence"
