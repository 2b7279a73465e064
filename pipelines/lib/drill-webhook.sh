# shellcheck shell=bash
# pipelines/lib/drill-webhook.sh: the webhook side of the drills (source after lib/drill.sh).
#
#   serve_start ARGS…  `portcullis serve` (no shutdown grace: nothing to drain) on free loopback ports with $DRILL_DIR/tls.{crt,key}
#                      and ARGS (e.g. --policy DIR); sets SERVE_PID, PORT, ADMIN; waits for /readyz
#   serve_kill [SIG]   stop it by PID (default SIGKILL: a crash, no graceful drain)
#   render_webhook ENV FILE  the rendered Mutating/ValidatingWebhookConfigurations of
#                      deploy/overlays/ENV/webhook, as the cluster would hold them; the whole
#                      rendering (Deployment included, for `rehearse`) in FILE without .yaml + -full.yaml
#   pod_review UID NAME IMAGE [root]  an AdmissionReview (CREATE Pod in namespace jobs) on stdout;
#                      the Pod is restricted-compliant with limits unless "root" (runs as uid 0)
#   admit CONFIG LABELS REVIEW  the API server's decision (pipelines/py/apiserver_admit.py): one
#                      JSON line; exit 0 admitted. The call goes to 127.0.0.1:$PORT verified
#                      against $DRILL_DIR/ca.crt, as the Service name the configuration names
#   review_allowed REVIEW  POST REVIEW to /validate directly (curl, CA-verified, ?timeout=10s);
#                      prints the response; non-zero when the TLS call itself fails
# shellcheck source-path=SCRIPTDIR source=venv.sh
. "$(dirname "${BASH_SOURCE[0]}")/venv.sh"

SERVICE_DNS=portcullis.portcullis-system.svc
# shellcheck disable=SC2034 # for the drills that source this file
ENFORCED='{"portcullis.dev/enforce": "true"}'
SERVE_PID="" PORT="" ADMIN=""

serve_start() {
    PORT="${PORT:-$(free_port)}"
    ADMIN="${ADMIN:-$(free_port)}"
    "$BIN" serve --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN" \
        --tls-cert "$DRILL_DIR/tls.crt" --tls-key "$DRILL_DIR/tls.key" --cluster-policies off --shutdown-grace 0s --drain-timeout 1s \
        --log-format text "$@" >>"$DRILL_DIR/serve.log" 2>&1 &
    SERVE_PID=$!
    PIDS+=("$SERVE_PID")
    wait_http "http://127.0.0.1:$ADMIN/readyz"
}

serve_kill() {
    kill "-${1:-KILL}" "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null || true
    local -a left=()
    local p
    for p in "${PIDS[@]}"; do [[ $p == "$SERVE_PID" ]] || left+=("$p"); done
    PIDS=("${left[@]}")
}

render_webhook() {
    kubectl kustomize "$PORTCULLIS_ROOT/deploy/overlays/$1/webhook" >"${2%.yaml}-full.yaml" ||
        die "rendering deploy/overlays/$1/webhook failed"
    "$VENV/bin/python" -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(sys.stdin) if d and d.get("kind", "").endswith("WebhookConfiguration")]
if not docs:
    sys.exit("no webhook configurations in the rendering")
yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)' <"${2%.yaml}-full.yaml" >"$2" ||
        die "no webhook configurations in deploy/overlays/$1/webhook"
}

pod_review() {
    local uid="$1" name="$2" image="$3" user=10001 nonroot=true
    if [[ ${4:-} == root ]]; then user=0 nonroot=false; fi
    jq -n --arg uid "$uid" --arg name "$name" --arg image "$image" --argjson user "$user" --argjson nonroot "$nonroot" '
      {apiVersion: "v1", kind: "Pod", metadata: {name: $name, namespace: "jobs"},
       spec: {securityContext: {runAsNonRoot: true, seccompProfile: {type: "RuntimeDefault"}},
         containers: [{name: "app", image: $image,
           securityContext: {runAsNonRoot: $nonroot, runAsUser: $user, allowPrivilegeEscalation: false,
             capabilities: {drop: ["ALL"]}},
           resources: {requests: {cpu: "100m", memory: "64Mi"}, limits: {cpu: "200m", memory: "128Mi"}}}]}} as $pod
      | {apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
         request: {uid: $uid, kind: {group: "", version: "v1", kind: "Pod"},
           resource: {group: "", version: "v1", resource: "pods"}, namespace: "jobs", name: $name,
           operation: "CREATE", userInfo: {username: "drill", groups: ["system:authenticated"]},
           object: $pod, dryRun: false}}'
}

admit() {
    "$VENV/bin/python" "$PORTCULLIS_ROOT/pipelines/py/apiserver_admit.py" --config "$1" --labels "$2" \
        --review "$3" --address "127.0.0.1:$PORT" --cacert "$DRILL_DIR/ca.crt"
}

review_allowed() {
    curl -sS --fail-with-body --max-time 10 --cacert "$DRILL_DIR/ca.crt" \
        --resolve "$SERVICE_DNS:$PORT:127.0.0.1" -H 'Content-Type: application/json' \
        --data-binary "@$1" "https://$SERVICE_DNS:$PORT/validate?timeout=10s"
}
