#!/usr/bin/env bash
# A plausible wrong answer: orders-db keeps its permission-fixing init container, hardened in
# every way but one: it still runs as root ("chown needs it"). The pod's runAsUser is overridden
# by the container's; fsGroup makes the container unnecessary.
# expect: pss:Running as Non-root user fails for StatefulSet shop/orders-db
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source=docs/course/labs/13-compliance-audit/audit.sh
. "$LAB_DIR/audit.sh"
bash "$LAB_DIR/solve.sh"
"$VENV/bin/python" - "$LAB_HOME/manifests/orders-db.yaml" <<'PY'
import sys
import yaml
path = sys.argv[1]
with open(path) as f:
    doc = yaml.safe_load(f)
doc["spec"]["template"]["spec"]["initContainers"] = [{
    "name": "fix-permissions", "image": "registry.example.com/shop/busybox:1.36.1",
    "command": ["sh", "-c", "chown -R 999:999 /var/lib/postgresql/data"],
    "securityContext": {"runAsUser": 0, "runAsNonRoot": False, "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}},
    "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]}]
with open(path, "w") as f:
    yaml.safe_dump(doc, f, sort_keys=False)
PY
lab_audit html "$LAB_HOME/manifests" >"$LAB_HOME/evidence/audit.html"
lab_audit jsonl "$LAB_HOME/manifests" >"$LAB_HOME/evidence/audit.jsonl"
