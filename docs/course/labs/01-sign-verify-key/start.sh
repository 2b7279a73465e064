#!/usr/bin/env bash
# Lab 01 start: a loopback registry with two unsigned images, lab/app:1.0 and lab/other:1.0, and
# a Pod manifest for each in the workspace (to try a policy on).
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
lab_registry
"$LAB_EXAMPLES/push_image" "$REGISTRY" lab/app 1.0 lab01-app >/dev/null
"$LAB_EXAMPLES/push_image" "$REGISTRY" lab/other 1.0 lab01-other >/dev/null
mkdir -p "$LAB_HOME/pods"
lab_pod app "$REGISTRY/lab/app:1.0" >"$LAB_HOME/pods/app.json"
lab_pod other "$REGISTRY/lab/other:1.0" >"$LAB_HOME/pods/other.json"
log "registry $REGISTRY holds lab/app:1.0 and lab/other:1.0, both unsigned"
