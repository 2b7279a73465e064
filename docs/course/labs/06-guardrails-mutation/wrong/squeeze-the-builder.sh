#!/usr/bin/env bash
# A plausible wrong answer: squeeze the builder until it fits (512Mi request, 1Gi limit). It is
# admitted, and then killed for memory every night: it needs 2Gi.
# expect: container builder runs with memory limit 1Gi once admitted: it needs at least 2Gi
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i "s/^              memory: 1536Mi$/              memory: 512Mi/; s/^              memory: 2Gi$/              memory: 1Gi/" "$LAB_HOME/deployment.yaml"
grep -q "memory: 512Mi" "$LAB_HOME/deployment.yaml"
