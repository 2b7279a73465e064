#!/usr/bin/env bash
# A plausible wrong answer: "pin by digest" done by resolving the tag as it is now, which is the
# re-pushed image (incident.md is right; the pin contradicts it).
# expect: it is what lab/app:1.0 points to now, and the team key did not sign it
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
now="$(lab_tag_digest lab/app 1.0)"
sed -i "s|@sha256:[0-9a-f]*\$|@$now|" "$LAB_HOME/deployment.yaml"
grep -q "@$now" "$LAB_HOME/deployment.yaml"
