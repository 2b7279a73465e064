#!/usr/bin/env bash
# Lab 09 check: the page on the jobs API availability SLO.
#   1. promtool check rules accepts the workspace's rule files;
#   2. the student's own unit test passes, tests the alert file, and has at least one case where
#      the page fires and one where it stays quiet;
#   3. the check's own scenarios (scenarios.py; generated here, never written to the workspace), run
#      against the repository's recording rules: a fast burn pages within 15 minutes with labels the
#      repository's Alertmanager routes to the workloads pager; a blip, errors within budget, a
#      slow burn and a burst that ended stay quiet.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
ALERT=JobsApiAvailabilityBudgetBurnFast
alerts="$LAB_HOME/rules/jobs-api-slo.alerts.yml"
test_file="$LAB_HOME/tests/jobs-api-slo.alerts.test.yml"

tool() { # NAME: promtool or amtool, on PATH or extracted by pipelines/validate/observability.sh
    local t="$PORTCULLIS_WORK/tools/prometheus/usr/bin/$1"
    if command -v "$1" >/dev/null; then command -v "$1"; elif [[ -x $t ]]; then echo "$t"; else
        die "no $1: run pipelines/validate-manifests.sh observability once (it extracts it from Debian's package)"
    fi
}
promtool="$(tool promtool)" amtool="$(tool amtool)"

for f in "$alerts" "$test_file"; do
    [[ -f $f ]] || { finding "${f#"$LAB_HOME"/} is missing (make lab-start LAB=09 gives a fresh one)"; check_done; }
done

# 1. The rule files load.
if ! out="$("$promtool" check rules "$LAB_HOME"/rules/*.yml 2>&1)"; then
    finding "promtool check rules rejects your rules: $(grep -v -e '^Checking' -e SUCCESS <<<"$out" | tr -s ' \n' ' ')"
    check_done
fi
if ! lab_yaml "$alerts" | jq -e --arg a "$ALERT" '[.[].groups[]?.rules[]? | select(.alert == $a)] | .[0]' >/dev/null; then
    finding "rules/jobs-api-slo.alerts.yml has no alerting rule named $ALERT yet"
    check_done
fi

# 2. The student's own test.
if ! out="$(lab_yaml "$test_file" 2>&1)"; then
    finding "tests/jobs-api-slo.alerts.test.yml does not parse: $out"
    check_done
fi
cases="$(lab_yaml "$test_file" | jq -c --arg a "$ALERT" '[.[0].tests[]?.alert_rule_test[]? | select(.alertname == $a)]')"
jq -e 'any(.[]; (.exp_alerts // []) | length > 0)' <<<"$cases" >/dev/null ||
    finding "your test never expects $ALERT to fire: add a case with a fast burn and exp_alerts naming its labels"
jq -e 'any(.[]; (.exp_alerts // []) | length == 0)' <<<"$cases" >/dev/null ||
    finding "your test never expects $ALERT to stay quiet: add a case (a blip, or errors within budget) with exp_alerts: []"
tests_alerts=0
while IFS= read -r f; do
    [[ $(realpath -m "$LAB_HOME/tests/$f") == "$(realpath "$alerts")" ]] && tests_alerts=1
done < <(lab_yaml "$test_file" | jq -r '.[0].rule_files[]?')
[[ $tests_alerts -eq 1 ]] ||
    finding "tests/jobs-api-slo.alerts.test.yml does not load ../rules/jobs-api-slo.alerts.yml in rule_files: it tests some other file"
if ! out="$(cd "$LAB_HOME/tests" && "$promtool" test rules jobs-api-slo.alerts.test.yml 2>&1)"; then
    finding "your own test fails (promtool test rules tests/jobs-api-slo.alerts.test.yml): $(sed -n '/FAILED/,$p' <<<"$out" | head -n 12 | tr -s ' \n' ' ' | cut -c1-400)"
fi

# 3. The check's scenarios, against the repository's recording rules.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$VENV/bin/python" "$LAB_DIR/scenarios.py" recording \
    "$PORTCULLIS_ROOT/observability/prometheus/rules/jobs-api-slo.yml" "$tmp/recording.yml"
if ! problems="$("$VENV/bin/python" "$LAB_DIR/scenarios.py" run "$promtool" "$amtool" \
    "$PORTCULLIS_ROOT/observability/alertmanager/alertmanager.yml" "$tmp/recording.yml" "$(realpath "$alerts")" "$tmp" 2>&1)"; then
    finding "the check's own scenarios could not run: $problems"
    check_done
fi
while IFS= read -r problem; do
    [[ -z $problem ]] || finding "$problem"
done <<<"$problems"
check_done
