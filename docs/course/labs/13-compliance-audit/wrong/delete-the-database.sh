#!/usr/bin/env bash
# A plausible wrong answer: "orders-db fails the most controls, and it is managed elsewhere anyway":
# its manifest is deleted, and the audit (run again, so the evidence is current) looks clean.
# expect: StatefulSet shop/orders-db is gone from manifests/
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source=docs/course/labs/13-compliance-audit/audit.sh
. "$LAB_DIR/audit.sh"
bash "$LAB_DIR/solve.sh"
rm "$LAB_HOME/manifests/orders-db.yaml"
lab_audit html "$LAB_HOME/manifests" >"$LAB_HOME/evidence/audit.html"
lab_audit jsonl "$LAB_HOME/manifests" >"$LAB_HOME/evidence/audit.jsonl"
