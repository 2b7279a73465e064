#!/usr/bin/env bash
# Lab 10 check: the incident note and the fix.
#   incident.md  `cause:` names what the webhook's own telemetry shows (read now from its /metrics
#                and JSON log, not from a list in this script): the failure code of the image
#                verifications, not a registry problem; `evidence:` names a metric the webhook
#                exports whose labels show that code, and a log field whose values show it.
#   the fix      the workspace's policies, as the running webhook reloaded them: every review of
#                the burst, replayed, is admitted with no warning, and jobs-images still enforces.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
: "${PORT:?lab.env has no PORT: run make lab-start LAB=10}"
note="$LAB_HOME/incident.md"
serve_log="$LAB_HOME/run/webhook.log"

if ! lab_running webhook; then
    finding "the webhook is not running any more (its log: run/webhook.log): policies reload without a restart; make lab-start LAB=10"
    check_done
fi
metrics="$(curl -fsS "http://127.0.0.1:$ADMIN/metrics")" || die "no /metrics at 127.0.0.1:$ADMIN"

# What the telemetry says, before the replay below adds to it.
code="$(grep '^portcullis_image_verifications_total{' <<<"$metrics" | grep -v 'result="verified"' |
    sort -k2 -g -r | head -n 1 | sed 's/.*result="\([^"]*\)".*/\1/')"
[[ -n $code ]] || die "the webhook's metrics show no failed verification: was the burst replayed? (make lab-start LAB=10)"
registry_statuses="$(grep '^portcullis_registry_requests_total{' <<<"$metrics" | sed 's/.*status="\([^"]*\)".*/\1/' | sort -u | tr '\n' ' ')"
# Metric families with a series labelled with the code; log fields whose values carry it.
code_metrics="$(grep -F "\"$code\"" <<<"$metrics" | grep -v '^#' | sed 's/[{ ].*//' | sort -u)"
code_fields="$(jq -r --arg c "$code" 'select(type == "object") | [paths(scalars) as $p | {k: ($p | map(strings) | last), v: getpath($p)}]
    | .[] | select((.v | tostring) | test($c + "|required trusted key")) | .k' "$serve_log" 2>/dev/null | sort -u)"

# --- incident.md ---------------------------------------------------------------------------------
# field NAME: the text after "NAME:" in incident.md, with its continuation lines (up to a blank line
# or the next "word:" line), on one line.
field() {
    awk -v want="$1" '
        { line = $0; sub(/^[[:space:]*>#-]*/, "", line) }
        match(tolower(line), /^[a-z]+[*]*:/) { on = (tolower(substr(line, 1, length(want))) == want); if (on) { sub(/^[^:]*:[*]*[[:space:]]*/, "", line); printf "%s ", line }; next }
        /^[[:space:]]*$/ { on = 0; next }
        on { printf "%s ", line }' "$note" | sed 's/ *$//'
}
if [[ ! -s $note ]]; then
    finding "no incident.md in the workspace: write one with a cause: line and an evidence: line (README, Work)"
else
    cause="$(field cause)"
    evidence="$(field evidence)"
    if [[ -z $cause ]]; then
        finding "incident.md has no cause: line"
    else
        blames_registry=0
        grep -Eiq '429|rate[ -]?limit|throttl|unreachable|registry[ -](is |was )?(down|outage|slow|error)|registry-(throttled|unreachable|unauthorized|protocol)|quota' <<<"$cause" && blames_registry=1
        if [[ $blames_registry -eq 1 ]]; then
            finding "cause: blames the registry (\"$cause\"), but the webhook's registry requests only got HTTP $registry_statuses(portcullis_registry_requests_total) and the same registry serves web/frontend, verified; the failed verifications say $code"
        fi
        if ! grep -Eiq 'key' <<<"$cause"; then
            finding "cause: does not say which key is the problem: the failed verifications are $code (an image signed, but by no key the policy trusts): whose key changed, and where is it missing?"
        fi
    fi
    if [[ -z $evidence ]]; then
        finding "incident.md has no evidence: line (a metric name and a log field that show the cause)"
    else
        named_metrics="$(grep -oE 'portcullis_[a-z_:]+' <<<"$evidence" | sed -E 's/_(bucket|sum|count)$//' | sort -u)"
        if [[ -z $named_metrics ]]; then
            finding "evidence: names no metric (the webhook's metrics are the portcullis_* series of /metrics)"
        fi
        shows=0
        for m in $named_metrics; do
            if ! grep -qE "^(# TYPE )?$m([{ ]|_bucket|_sum|_count)" <<<"$metrics"; then
                finding "evidence: $m is not a metric the webhook exports (curl /metrics and copy the name)"
            elif grep -qxF "$m" <<<"$code_metrics"; then
                shows=1
            fi
        done
        if [[ -n $named_metrics && $shows -eq 0 ]]; then
            finding "evidence: $(tr '\n' ' ' <<<"$named_metrics" | sed 's/ $//') does not show the cause: name the metric whose label says $code ($(tr '\n' ' ' <<<"$code_metrics" | sed 's/ $//'))"
        fi
        words="$(grep -oE '[A-Za-z_][A-Za-z0-9_.]*' <<<"$evidence" | sort -u)"
        if [[ -z $(comm -12 <(printf '%s\n' "$words") <(printf '%s\n' "$code_fields")) ]]; then
            finding "evidence: names no field of the webhook's JSON log that shows the cause (the fields whose values carry it: $(tr '\n' ' ' <<<"$code_fields" | sed 's/ $//'))"
        fi
    fi
fi

# --- the fix -------------------------------------------------------------------------------------
policies='[]' unparsed=0
for f in "$LAB_HOME"/policies/*.y*ml; do
    [[ -f $f ]] || continue
    if docs="$(lab_yaml "$f" 2>&1)"; then
        policies="$(jq -c --argjson more "$docs" '. + $more' <<<"$policies")"
    else
        unparsed=1
        finding "policies/$(basename "$f") does not parse: $(tr '\n' ' ' <<<"${docs#"$f": }")"
    fi
done
jobs_policy="$(jq -c '[.[] | select(.kind == "ClusterImagePolicy" and .metadata.name == "jobs-images")][0] // empty' <<<"$policies")"
if [[ -z $jobs_policy ]]; then
    [[ $unparsed -eq 1 ]] ||
        finding "the ClusterImagePolicy jobs-images is gone from policies/: the jobs team's images must still be verified"
else
    mode="$(jq -r '.spec.mode // "enforce"' <<<"$jobs_policy")"
    [[ $mode == enforce ]] ||
        finding "jobs-images is in mode $mode: unsigned or wrongly signed jobs images would now be admitted; keep mode enforce and trust the key that signs the images"
fi
ready="$(curl -s "http://127.0.0.1:$ADMIN/readyz" | grep -F '[!]' || true)"
[[ -z $ready ]] || finding "the webhook did not take your policy change: /readyz says: $ready"

send() {
    curl -fsS --max-time 8 --cacert "$LAB_HOME/tls/ca.crt" \
        --resolve "portcullis.portcullis-system.svc:$PORT:127.0.0.1" -H 'Content-Type: application/json' \
        --data-binary "@$1" "https://portcullis.portcullis-system.svc:$PORT/validate?timeout=5s"
}
# replay: one line per review of the burst not admitted cleanly.
replay() {
    local f out
    for f in "$LAB_HOME"/run/reviews/*.json; do
        out="$(send "$f" 2>&1)" || { echo "$(basename "$f"): no answer: $out"; continue; }
        jq -r --slurpfile r "$f" '($r[0].request | "\(.kind.kind) \(.namespace)/\(.name)") as $what
            | if .response.allowed != true then "\($what) still denied: \(.response.status.message // "")"
              elif (.response.warnings // []) != [] then "\($what) admitted only with a warning: \(.response.warnings[0])"
              else empty end' <<<"$out"
    done
}
# The webhook looks at its policy files every second: a change made since it started and in the
# last two seconds may not be loaded yet. Wait for its reload counter to move (two seconds at most).
reloads() { curl -fsS "http://127.0.0.1:$ADMIN/metrics" | awk '/^portcullis_policy_reloads_total/ {n += $2} END {print n + 0}'; }
newest="$(stat -c %Y "$LAB_HOME"/policies/* 2>/dev/null | sort -n | tail -n 1)"
started="$(stat -c %Y "$LAB_HOME/run/webhook.pid")"
if ((${newest:-0} > started && ${newest:-0} + 2 > $(date +%s))); then
    before="$(reloads)"
    for _ in $(seq 1 20); do
        sleep 0.1
        [[ $(reloads) == "$before" ]] || break
    done
fi
problems="$(replay)"
while IFS= read -r p; do
    [[ -n $p ]] && finding "replayed review: ${p:0:300}"
done <<<"$problems"
check_done
