#!/usr/bin/env bash
# A plausible wrong answer: the right windows, but `for: 1h` "to be sure it is real". At 10 %
# errors the budget's 2 % per hour is gone long before the page, and the page comes an hour late.
# expect: did not page within 15 minutes
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i 's/^        for: 2m$/        for: 1h/' "$LAB_HOME/rules/jobs-api-slo.alerts.yml"
grep -q 'for: 1h' "$LAB_HOME/rules/jobs-api-slo.alerts.yml"
