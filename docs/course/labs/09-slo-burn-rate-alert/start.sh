#!/usr/bin/env bash
# Lab 09 start: the availability SLO's recording rules (the repository's), an alert file with no
# page yet, and a unit-test file with one input and no expectations.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
mkdir -p "$LAB_HOME/rules" "$LAB_HOME/tests"
"$VENV/bin/python" "$LAB_DIR/scenarios.py" recording \
    "$PORTCULLIS_ROOT/observability/prometheus/rules/jobs-api-slo.yml" "$LAB_HOME/rules/jobs-api-slo.recording.yml"
cp "$LAB_DIR/files/jobs-api-slo.alerts.yml" "$LAB_HOME/rules/"
cp "$LAB_DIR/files/jobs-api-slo.alerts.test.yml" "$LAB_HOME/tests/"
