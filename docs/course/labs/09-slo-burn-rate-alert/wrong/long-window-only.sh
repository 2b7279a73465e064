#!/usr/bin/env bash
# A plausible wrong answer: the 14.4x burn rate over one hour, without the short window that
# confirms the errors are still happening: after a burst ends it keeps paging for most of an hour.
# expect: ended 35 minutes ago
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
f="$LAB_HOME/rules/jobs-api-slo.alerts.yml"
"$VENV/bin/python" - "$f" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
text = re.sub(r"        expr: \|\n(?:          .*\n)+", '        expr: slo:error_ratio:rate1h{slo="jobs-api-availability"} > (14.4 * 0.001)\n', text)
open(path, "w").write(text)
PY
grep -q 'rate1h{slo="jobs-api-availability"} > (14.4 \* 0.001)$' "$f"
