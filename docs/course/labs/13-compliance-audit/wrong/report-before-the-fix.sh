#!/usr/bin/env bash
# A plausible wrong answer: the evidence was produced first, from the manifests as found, and the
# manifests fixed afterwards. The report is real but describes workloads that no longer exist.
# expect: it is stale, run the audit again after your last change
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source=docs/course/labs/13-compliance-audit/audit.sh
. "$LAB_DIR/audit.sh"
bash "$LAB_DIR/solve.sh"
lab_audit html "$LAB_DIR/files/manifests" >"$LAB_HOME/evidence/audit.html"
lab_audit jsonl "$LAB_DIR/files/manifests" >"$LAB_HOME/evidence/audit.jsonl"
