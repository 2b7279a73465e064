#!/usr/bin/env bash
# A plausible wrong answer: page when the error ratio is above the budget (0.1 %), with no burn
# factor: every blip, and every slow burn that a ticket should handle, wakes someone up.
# expect: paged on a 5-minute blip
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
f="$LAB_HOME/rules/jobs-api-slo.alerts.yml"
"$VENV/bin/python" - "$f" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
text = re.sub(r"        expr: \|\n(?:          .*\n)+", '        expr: slo:error_ratio:rate5m{slo="jobs-api-availability"} > 0.001\n', text)
open(path, "w").write(text)
PY
grep -q 'rate5m{slo="jobs-api-availability"} > 0.001$' "$f"
