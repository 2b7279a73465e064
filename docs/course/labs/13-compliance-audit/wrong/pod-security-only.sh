#!/usr/bin/env bash
# A plausible wrong answer: "the audit is about Pod Security", so the evidence is made with the
# restricted policy alone. The auditor's report must say which policy set it applied, and this one
# is not the shipped set the controls are judged against.
# expect: was made with another policy set
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source=docs/course/labs/13-compliance-audit/audit.sh
. "$LAB_DIR/audit.sh"
bash "$LAB_DIR/solve.sh"
AUDIT_POLICIES=(pod-security-restricted.yaml)
lab_audit html "$LAB_HOME/manifests" >"$LAB_HOME/evidence/audit.html"
