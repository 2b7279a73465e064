#!/usr/bin/env bash
# Lab 07 check: the webhook configurations in the workspace, judged two ways.
#   1. As written: the repository's webhook safety rules (pipelines/validate/py/webhook_safety.py,
#      the `webhooks` check of validate-manifests), plus failurePolicy Fail (stage/prod) and a
#      timeoutSeconds that leaves verification time after the server's --timeout-margin.
#   2. As the API server would act on them: deploy/base/webhook rendered with the student's two
#      configurations in place of its own, replayed by `rehearse` on cluster.yaml (from the lab
#      folder, not the workspace) with the webhook up, then stopped (cases.yaml says what must
#      happen to each pod). No API server runs: rehearse acts like one for admission.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
REHEARSE="$(dirname "$LAB_BIN")/rehearse"
work="$LAB_HOME/check"
rm -rf "$work"
mkdir -p "$work/configs"

# --- the two files, parsed --------------------------------------------------------------------
declare -A KIND=([validatingwebhookconfiguration.yaml]=ValidatingWebhookConfiguration
    [mutatingwebhookconfiguration.yaml]=MutatingWebhookConfiguration)
parsed=0
for f in validatingwebhookconfiguration.yaml mutatingwebhookconfiguration.yaml; do
    if [[ ! -f $LAB_HOME/$f ]]; then
        finding "$f is missing from the workspace (make lab-start LAB=07 gives it back)"
        continue
    fi
    if ! docs="$(lab_yaml "$LAB_HOME/$f" 2>&1)"; then
        finding "$f does not parse: $docs"
        continue
    fi
    cfg="$(jq -c --arg k "${KIND[$f]}" '[.[] | select(.kind == $k and (.webhooks | length) > 0)] | .[0] // empty' <<<"$docs")"
    if [[ -z $cfg ]]; then
        finding "$f has no ${KIND[$f]} with webhooks any more: deleting the webhook is break-glass step 5, not a configuration"
        continue
    fi
    printf '%s\n' "$cfg" >"$work/configs/$f"
    parsed=$((parsed + 1))
done
[[ $parsed -eq 2 ]] || check_done

# --- 1. as written ----------------------------------------------------------------------------
# The webhook keeps --timeout-margin of the API server's ?timeout= to answer; verification gets the
# rest. Read it from the Deployment as shipped (the server's default is 1s).
rendered="$(kubectl kustomize "$PORTCULLIS_ROOT/deploy/base/webhook")"
margin="$(printf '%s\n' "$rendered" | "$VENV/bin/python" -c '
import re, sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    if d and d.get("kind") == "Deployment" and d["metadata"]["name"] == "portcullis":
        args = d["spec"]["template"]["spec"]["containers"][0].get("args") or []
        for i, a in enumerate(args):
            v = a.split("=", 1)[1] if a.startswith("--timeout-margin=") else (args[i + 1] if a == "--timeout-margin" else None)
            if v:
                print(int(re.fullmatch(r"(\d+)s", v).group(1)))
                sys.exit()
print(1)')"

rc=0
safety="$("$VENV/bin/python" "$PORTCULLIS_ROOT/pipelines/validate/py/webhook_safety.py" "$work/configs" 2>&1)" || rc=$?
while IFS= read -r line; do
    # Said more specifically below: the opt-in label, and the timeout against the server's deadline.
    [[ -n $line && $line != summary:* && $line != *"without requiring"* && $line != *"timeoutSeconds is"* ]] || continue
    finding "$line"
done <<<"$safety"
[[ $rc -le 1 ]] || finding "the webhook safety rules could not read your files: $safety"

for f in validatingwebhookconfiguration.yaml mutatingwebhookconfiguration.yaml; do
    while IFS=$'\t' read -r name policy timeout optin; do
        where="$f: webhook $name"
        [[ $policy == Fail ]] ||
            finding "$where: failurePolicy is $policy: while Portcullis is down (or too slow), pods in enforced namespaces are admitted unchecked; stage and prod fail closed with Fail (only the dev overlay uses Ignore, and PortcullisFailingOpen alerts on it)"
        if [[ ! $timeout =~ ^[0-9]+$ ]]; then
            finding "$where: timeoutSeconds is $timeout, not a whole number of seconds"
        elif ((timeout <= margin)); then
            finding "$where: timeoutSeconds is $timeout: the webhook keeps --timeout-margin ${margin}s of the API server's ?timeout= to answer, so image verification would get no time at all (its deadline is timeoutSeconds - ${margin}s)"
        elif ((timeout > 15)); then
            finding "$where: timeoutSeconds is $timeout, above the project's 15 (pipelines/validate/py/webhook_safety.py): while Portcullis hangs, every matching request waits ${timeout}s, and the webhook, sent ?timeout=${timeout}s, waits up to $((timeout - margin))s on a slow registry before it denies with reason deadline (the latency alerts assume 10)"
        fi
        [[ $optin == true ]] ||
            finding "$where: namespaceSelector does not require portcullis.dev/enforce=true (operator In, values [\"true\"]): removing that label, the documented break glass for one namespace (docs/runbooks/break-glass.md, step 3), must take a namespace out of scope, and only opted-in namespaces may fail closed"
    done < <(jq -r '.webhooks[] | [.name, (.failurePolicy // "Fail"),
        (.timeoutSeconds // 10 | tostring),
        ([.namespaceSelector.matchExpressions[]? | select(.key == "portcullis.dev/enforce" and .operator == "In" and .values == ["true"])]
            + [.namespaceSelector.matchLabels["portcullis.dev/enforce"]? | select(. == "true")] | length > 0 | tostring)] | @tsv' \
        "$work/configs/$f")
done

# What the webhooks do when Portcullis is healthy stays as it was: rules, matchConditions, service.
for f in validatingwebhookconfiguration.yaml mutatingwebhookconfiguration.yaml; do
    while IFS= read -r name; do
        finding "$f: webhook $name: its rules, matchConditions or clientConfig changed: an outage is fixed by failurePolicy, timeoutSeconds and namespaceSelector; keep what it is sent and where (compare with deploy/base/webhook/$f)"
    done < <(jq -r --slurpfile want <(lab_yaml "$LAB_DIR/files/$f") '
        def what: {rules, matchConditions, service: .clientConfig.service};
        ($want[0][0].webhooks | map({key: .name, value: what}) | from_entries) as $w
        | .webhooks[] | select(($w[.name] // null) != what) | .name' "$work/configs/$f")
done

# --- 2. as the API server would act on them ----------------------------------------------------
[[ -x $REHEARSE ]] || die "no rehearse binary next to $LAB_BIN (cargo build -p portcullis-rehearsal)"
printf '%s\n' "$rendered" | "$VENV/bin/python" -c '
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(sys.stdin)
        if d and d.get("kind") not in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")]
docs += [json.load(open(p)) for p in sys.argv[1:]]
yaml.safe_dump_all(docs, sys.stdout)
' "$work/configs/validatingwebhookconfiguration.yaml" "$work/configs/mutatingwebhookconfiguration.yaml" \
    >"$work/webhook.yaml"
rc=0
"$REHEARSE" --webhook "lab=$work/webhook.yaml" --workloads "$LAB_DIR/files/cluster.yaml" \
    --cases "$LAB_DIR/files/cases.yaml" --portcullis "$LAB_BIN" --no-controllers \
    --serve-arg "--shutdown-grace 0s" --work-dir "$work/rehearsal" >"$work/rehearsal.log" 2>&1 || rc=$?
results="$work/rehearsal/results.json"
if [[ $rc -ge 2 || ! -s $results ]]; then
    finding "the admission replay could not run on your configurations (exit $rc): $(tail -n 3 "$work/rehearsal.log" | tr '\n' ' ')"
    check_done
fi

# decisions PHASE OBJECT: "webhook=decision, …" of one replayed object.
decisions() {
    jq -r --arg p "$1" --arg o "$2" '[.[] | select(.phase == $p and .object == $o)][0] |
        [.calls[] | "\(.webhook)=\(.decision)"] | join(", ")' "$results"
}
message() {
    jq -r --arg o "$1" '[.[] | select(.phase == "down" and .object == $o)][0].message // "" | .[0:200]' "$results"
}
up="$(decisions up Pod/jobs/jobs-api)"
[[ $up == *validate.portcullis.dev=allowed* ]] ||
    finding "with the webhook up, Pod jobs/jobs-api in namespace jobs (portcullis.dev/enforce=true) did not go through validate.portcullis.dev ($up): enforcement is off where it was asked for"
while IFS=$'\t' read -r case object ok allowed; do
    [[ $ok == true ]] && continue
    ns="${object#Pod/}"
    ns="${ns%%/*}"
    case "$case" in
        "enforced namespace fails closed")
            finding "with the webhook stopped, Pod $ns/${object##*/} in namespace jobs (portcullis.dev/enforce=true) was admitted unchecked ($(decisions down "$object")): an enforced namespace must fail closed" ;;
        "control plane not blocked")
            finding "with the webhook stopped, Pod kube-system/${object##*/} was denied: a Portcullis outage blocks the control plane ($(message "$object"))" ;;
        "webhook can recover")
            finding "with the webhook stopped, Pod portcullis-system/${object##*/} (a new Portcullis replica) was denied: the webhook cannot come back while it is down, a deadlock ($(message "$object"))" ;;
        "break glass honoured")
            finding "with the webhook stopped, Pod payments/${object##*/} was denied although namespace payments broke glass (its portcullis.dev/enforce label was removed): it is still sent to the webhook ($(message "$object"))" ;;
        *) finding "replay case \"$case\" ($object): expectation not met, allowed=$allowed" ;;
    esac
done < <(jq -r '.[] | select(.phase == "down") | [.case, .object, (.ok | tostring), (.allowed | tostring)] | @tsv' "$results")
check_done
