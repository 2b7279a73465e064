#!/usr/bin/env bash
# Drill webhook-outage: every Portcullis replica is gone (crash, no graceful drain). How long until
# someone knows, what the cluster does meanwhile, and how admission comes back: first by breaking
# glass (docs/runbooks/break-glass.md), then properly, by restarting the webhook.
#
#   1. `portcullis serve` over TLS with the shipped Pod Security and resource policies; the prod
#      webhook configurations rendered from deploy/overlays/prod/webhook (failurePolicy Fail).
#   2. Reviews replayed as the API server sends them (pipelines/py/apiserver_admit.py: selector,
#      rules, CA-verified TLS to the Service name, ?timeout=, failurePolicy on a failed call) for
#      a namespace labelled portcullis.dev/enforce=true: a compliant Pod is admitted, a root Pod
#      denied.
#   3. A probe of /readyz every PROBE_INTERVAL seconds, as Prometheus scrapes the admin port;
#      detection = the first failed probe after the kill. (The PortcullisDown alert itself waits
#      `for: 2m` after its scrapes fail; that delay is read from the rule, not waited for here.)
#   4. SIGKILL. The compliant Pod is now rejected: "failed calling webhook" (failurePolicy Fail).
#   5. Break glass, step 4 of the runbook: failurePolicy Ignore in both configurations (the same
#      JSON patch `kubectl patch` applies). Admission is back, unverified: the root Pod is admitted
#      too. Step 3 (the namespace's enforce label removed) is shown as well: nothing is sent.
#   6. Without break glass: configurations back to Fail (flux resume), webhook restarted; the
#      compliant Pod is admitted by the webhook again and the root Pod denied again.
#   7. A cross-check with the repository's own API-server emulation, `rehearse --webhook-down`
#      (webhook/rehearsal): the full prod rendering and the same rendering after break glass, each
#      with the Deployment started as rendered, then stopped: prod rejects, break glass admits.
# No API server runs here: the replay decides as the API server's dispatcher does, it is not one.
# shellcheck source-path=SCRIPTDIR source=../lib/drill.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/drill.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/drill-webhook.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/drill-webhook.sh"

PROBE_INTERVAL="${DRILL_PROBE_INTERVAL:-1}"
need_bins
[[ -x $BIN_DIR/rehearse ]] || die "$BIN_DIR/rehearse is missing: cargo build -p portcullis-rehearsal"

# expect WHAT CONFIG LABELS REVIEW PATTERN: the decision must be WHAT (admitted|rejected) and its
# "by"/"message" must match PATTERN (grep -E); prints the decision.
expect() {
    local what="$1" out got
    out="$(admit "$2" "$3" "$4" || true)"
    got="$(jq -r 'if .admitted then "admitted" else "rejected" end' <<<"$out")"
    printf 'drill/%s:              %-9s %s\n' "$DRILL" "$got" "$(jq -r '.by + (if .message != "" then ": " + .message else "" end)' <<<"$out" | head -n 1 | cut -c1-150)"
    [[ $got == "$what" ]] || die "$(basename "$4" .json) should be $what, was $got: $out"
    grep -Eq "$5" <<<"$out" || die "$(basename "$4" .json): expected /$5/ in: $out"
}

probe_loop() {
    local i r
    for ((i = 0; i < 300; i++)); do
        if curl -fsS -o /dev/null --max-time 0.5 "http://127.0.0.1:$ADMIN/readyz" 2>/dev/null; then r=ok; else r=fail; fi
        printf '%s %s\n' "$(now_ms)" "$r" >>"$DRILL_DIR/probe.log"
        sleep "$PROBE_INTERVAL"
    done
}
probe_since() { awk -v t="$1" -v want="$2" '$1 >= t && $2 == want { print $1; exit }' "$DRILL_DIR/probe.log"; }
# shellcheck disable=SC2329 # called through wait_for
probe_saw() { [[ -n $(probe_since "$1" "$2") ]]; }

step "render deploy/overlays/prod/webhook; TLS for $SERVICE_DNS; serve with policies/library"
render_webhook prod "$DRILL_DIR/prod.yaml"
[[ $(grep -c 'failurePolicy: Fail' "$DRILL_DIR/prod.yaml") -eq 2 ]] ||
    die "the prod rendering should set failurePolicy: Fail on both webhooks"
webhook_tls "$DRILL_DIR" "DNS:$SERVICE_DNS,IP:127.0.0.1"
mkdir -p "$DRILL_DIR/policies"
cp "$PORTCULLIS_ROOT/policies/library/pod-security-restricted.yaml" \
    "$PORTCULLIS_ROOT/policies/library/resource-limits.yaml" "$DRILL_DIR/policies/"
serve_start --policy "$DRILL_DIR/policies" --no-match allow
pod_review outage-1 app 127.0.0.1:5000/jobs/api:1.0 >"$DRILL_DIR/compliant.json"
pod_review outage-2 root-app 127.0.0.1:5000/jobs/api:1.0 root >"$DRILL_DIR/root.json"

step "before the outage (namespace jobs, portcullis.dev/enforce=true)"
expect admitted "$DRILL_DIR/prod.yaml" "$ENFORCED" "$DRILL_DIR/compliant.json" 'validate.portcullis.dev allowed'
expect rejected "$DRILL_DIR/prod.yaml" "$ENFORCED" "$DRILL_DIR/root.json" 'denied the request: .*runAsNonRoot'

step "probe /readyz every ${PROBE_INTERVAL}s"
probe_loop &
PIDS+=($!)
wait_for 10 grep -q ' ok$' "$DRILL_DIR/probe.log" || die "the probe never saw the webhook ready"
sleep 0.$((RANDOM % 9 + 1)) # the crash comes at any point of the probe cycle

step "outage: SIGKILL portcullis (pid $SERVE_PID)"
t_kill="$(now_ms)"
serve_kill KILL
wait_for $((PROBE_INTERVAL * 3 + 5)) probe_saw "$t_kill" fail || die "the probe did not notice the outage"
t_detect="$(probe_since "$t_kill" fail)"
figure detect "$(awk -v a="$t_kill" -v b="$t_detect" 'BEGIN { printf "%.3f", (b - a) / 1000 }')s (probe every ${PROBE_INTERVAL}s)"
expect rejected "$DRILL_DIR/prod.yaml" "$ENFORCED" "$DRILL_DIR/compliant.json" 'failed calling webhook'

step "break glass (runbook step 4): failurePolicy Ignore on both webhooks"
break_glass() { # IN OUT: the runbook's patch, /webhooks/0/failurePolicy = Ignore, on both configurations
    "$VENV/bin/python" -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        d["webhooks"][0]["failurePolicy"] = "Ignore"
yaml.safe_dump_all(docs, open(sys.argv[2], "w"), sort_keys=False)' "$1" "$2"
}
break_glass "$DRILL_DIR/prod.yaml" "$DRILL_DIR/break-glass.yaml"
break_glass "$DRILL_DIR/prod-full.yaml" "$DRILL_DIR/break-glass-full.yaml"
expect admitted "$DRILL_DIR/break-glass.yaml" "$ENFORCED" "$DRILL_DIR/compliant.json" 'failed open'
figure "admission back (break glass)" "$(since "$t_kill")s after the kill"
expect admitted "$DRILL_DIR/break-glass.yaml" "$ENFORCED" "$DRILL_DIR/root.json" 'failed open'
step "the cost: the root Pod was admitted unverified; runbook step 3 instead (enforce label removed):"
expect admitted "$DRILL_DIR/prod.yaml" '{}' "$DRILL_DIR/root.json" 'not sent'

step "without break glass: configurations back to Fail (flux resume), restart portcullis"
t_restart="$(now_ms)"
serve_start --policy "$DRILL_DIR/policies" --no-match allow
expect admitted "$DRILL_DIR/prod.yaml" "$ENFORCED" "$DRILL_DIR/compliant.json" 'validate.portcullis.dev allowed'
figure "admission back (restart)" "$(since "$t_kill")s after the kill ($(since "$t_restart")s restart to first admission)"
expect rejected "$DRILL_DIR/prod.yaml" "$ENFORCED" "$DRILL_DIR/root.json" 'denied the request: .*runAsNonRoot'
wait_for $((PROBE_INTERVAL * 3 + 5)) probe_saw "$t_restart" ok || die "the probe did not see the webhook ready again"
step "cross-check with rehearse (webhook/rehearsal): prod and break-glass renderings, webhook up, then stopped"
{
    jq -n '{apiVersion: "v1", kind: "Namespace", metadata: {name: "jobs", labels: {"portcullis.dev/enforce": "true"}}}'
    echo ---
    jq '.request.object' "$DRILL_DIR/compliant.json"
} >"$DRILL_DIR/workloads.yaml"
timeout 120 "$BIN_DIR/rehearse" --webhook "prod=$DRILL_DIR/prod-full.yaml" \
    --webhook "break-glass=$DRILL_DIR/break-glass-full.yaml" --workloads "$DRILL_DIR/workloads.yaml" \
    --portcullis "$BIN" --webhook-down --pins off --no-controllers --stop-timeout 5 --serve-arg "--shutdown-grace 0s" \
    --work-dir "$DRILL_DIR/rehearse" >"$DRILL_DIR/rehearse.log" 2>&1 ||
    die "rehearse did not find every outcome as expected (see ${DRILL_DIR#"$PORTCULLIS_ROOT"/}/rehearse.log)"
jq -r '.[] | "drill/'"$DRILL"':              \(.rendering)/\(.phase): \(if .allowed then "admitted" else "rejected" end)"' \
    "$DRILL_DIR/rehearse/results.json"
[[ $(jq -r '[.[] | select(.phase == "down") | "\(.rendering)=\(.allowed)"] | sort | join(" ")' \
    "$DRILL_DIR/rehearse/results.json") == "break-glass=true prod=false" ]] ||
    die "rehearse: with the webhook down, prod must reject and break-glass admit (see ${DRILL_DIR#"$PORTCULLIS_ROOT"/}/rehearse/results.json)"

rule="$PORTCULLIS_ROOT/observability/prometheus/rules/portcullis-webhook.yml"
alert_for="$(awk '/alert: PortcullisDown/ { f = 1 } f && /for:/ { print $2; exit }' "$rule")"
scrape="$(awk '/interval:/ { print $2; exit }' "$PORTCULLIS_ROOT/deploy/base/webhook/servicemonitor.yaml")"
[[ -n $alert_for && -n $scrape ]] || die "PortcullisDown's for: or the ServiceMonitor's interval not found"
step "PortcullisDown would page after its first failed scrape (every $scrape) + for: $alert_for (not waited)"
drill_pass
