#!/usr/bin/env bash
# Lab 08 start: a CA (cert-manager's Issuer, here files) and a serving certificate that expires
# tomorrow; `portcullis serve` on those files; and a bounded review loop acting as the API server
# (trusting only the CA bundle it was given), logging every review to reviews.log.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
mkdir -p "$LAB_HOME/ca" "$LAB_HOME/tls" "$LAB_HOME/run"
webhook_tls "$LAB_HOME/tls" DNS:portcullis.portcullis-system.svc,DNS:portcullis.portcullis-system.svc.cluster.local 1
mv "$LAB_HOME/tls/ca.crt" "$LAB_HOME/tls/ca.key" "$LAB_HOME/tls/ca.srl" "$LAB_HOME/ca/"
rm -f "$LAB_HOME/tls/tls.csr" "$LAB_HOME/tls/san.ext"
# What the API server trusts (the webhook configurations' caBundle): a copy the check compares with.
cp "$LAB_HOME/ca/ca.crt" "$LAB_HOME/run/ca-bundle.pem"

port="$(free_port)"
admin="$(free_port)"
lab_env "PORT=$port" "ADMIN=$admin" \
    "START_CERT=$(openssl x509 -in "$LAB_HOME/tls/tls.crt" -noout -fingerprint -sha256 | cut -d= -f2)"
lab_bg webhook "$LAB_BIN" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
    --tls-cert "$LAB_HOME/tls/tls.crt" --tls-key "$LAB_HOME/tls/tls.key" \
    --policy "$PORTCULLIS_ROOT/policies/library/pod-security-restricted.yaml" --no-match allow \
    --shutdown-grace 0s
lab_wait_http "http://127.0.0.1:$admin/readyz"

lab_pod jobs-api registry.example.com/jobs/api:1.4 \
    '{"runAsNonRoot": true, "runAsUser": 10001, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}' |
    jq '{apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
        request: {uid: "lab-08", kind: {group: "", version: "v1", kind: "Pod"},
            resource: {group: "", version: "v1", resource: "pods"}, namespace: "lab", name: .metadata.name,
            operation: "CREATE", userInfo: {username: "lab", groups: ["system:authenticated"]},
            object: ., dryRun: false}}' >"$LAB_HOME/run/review.json"
: >"$LAB_HOME/reviews.log"
lab_bg reviews bash "$LAB_DIR/files/review-loop.sh" "$port" "$LAB_HOME/run/ca-bundle.pem" \
    "$LAB_HOME/run/review.json" "$LAB_HOME/reviews.log"
for _ in $(seq 1 50); do [[ -s $LAB_HOME/reviews.log ]] && break; sleep 0.1; done
grep -q ' ok allowed=true' "$LAB_HOME/reviews.log" || die "the first review failed: $(cat "$LAB_HOME/reviews.log")"
log "webhook on https://127.0.0.1:$port (admin http://127.0.0.1:$admin), a review every 200 ms in reviews.log"
