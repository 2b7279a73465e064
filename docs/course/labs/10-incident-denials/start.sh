#!/usr/bin/env bash
# Lab 10 start: the incident. Two teams ship images from the same registry; each has a
# ClusterImagePolicy trusting its release key. The jobs team rotated its key this morning and
# re-signed jobs/api:1.4 with the new one; the policy still trusts only the old one. Then a
# burst of reviews as the API server would send them (the Deployment, its ReplicaSet and Pods,
# retried), so the webhook's /metrics and JSON log hold the incident. The keys' private halves
# are not left in the workspace: nobody re-signs their way out.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
mkdir -p "$LAB_HOME/policies" "$LAB_HOME/keys" "$LAB_HOME/run/reviews" "$LAB_HOME/run/secret"
lab_registry
export PORTCULLIS_PASSWORD=lab-10
secret="$LAB_HOME/run/secret"
for k in jobs-old jobs-new web; do
    "$LAB_BIN" keygen --output-key-prefix "$secret/$k" >/dev/null 2>&1
done
"$LAB_EXAMPLES/push_image" "$REGISTRY" jobs/api 1.4 lab-10-jobs-api >/dev/null
"$LAB_EXAMPLES/push_image" "$REGISTRY" web/frontend 2.7 lab-10-web-frontend >/dev/null
"$LAB_BIN" sign --key "$secret/jobs-new.key" --allow-http-registry "$REGISTRY/jobs/api:1.4" >/dev/null 2>&1
"$LAB_BIN" sign --key "$secret/web.key" --allow-http-registry "$REGISTRY/web/frontend:2.7" >/dev/null 2>&1
cp "$secret/jobs-new.pub" "$LAB_HOME/keys/jobs-release-2026-12.pub"

# policy NAME TEAM KEY-NAME PUB: a ClusterImagePolicy for the team's images, trusting PUB.
policy() {
    printf '%s\n' "# The $2 team's release signatures: every image of $2/ in the registry must be signed with the" \
        "# team's release key. Owner: platform team (change through review)."
    lab_key_policy "$1" "127.0.0.1:*/$2/**" "$4" "$3"
}
policy jobs-images jobs jobs-release-2026-06 "$secret/jobs-old.pub" >"$LAB_HOME/policies/jobs-images.yaml"
policy web-images web web-release "$secret/web.pub" >"$LAB_HOME/policies/web-images.yaml"
rm -f "$secret"/*.key

mkdir -p "$LAB_HOME/tls"
webhook_tls "$LAB_HOME/tls" DNS:portcullis.portcullis-system.svc
port="$(free_port)"
admin="$(free_port)"
lab_env "PORT=$port" "ADMIN=$admin"
lab_bg webhook "$LAB_BIN" serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
    --tls-cert "$LAB_HOME/tls/tls.crt" --tls-key "$LAB_HOME/tls/tls.key" --policy "$LAB_HOME/policies" \
    --allow-http-registry "$REGISTRY" --cluster-policies off --shutdown-grace 0s
lab_wait_http "http://127.0.0.1:$admin/readyz"

# The burst: what the API server sends while a rollout of each team retries.
n=0
for target in "jobs|jobs-api|jobs/api:1.4" "web|frontend|web/frontend:2.7"; do
    IFS='|' read -r ns name image <<<"$target"
    for kind in Deployment ReplicaSet Pod; do
        n=$((n + 1))
        jq -n --arg uid "lab-10-$n" --arg kind "$kind" --arg ns "$ns" --arg name "$name" \
            --arg image "$REGISTRY/$image" -f "$LAB_DIR/files/review.jq" >"$LAB_HOME/run/reviews/$n.json"
    done
done
send() { # REVIEW-FILE: the AdmissionReview to /validate, as the API server sends it
    curl -fsS --max-time 5 --cacert "$LAB_HOME/tls/ca.crt" \
        --resolve "portcullis.portcullis-system.svc:$port:127.0.0.1" -H 'Content-Type: application/json' \
        --data-binary "@$1" "https://portcullis.portcullis-system.svc:$port/validate?timeout=5s"
}
for round in 1 2 3 4; do
    for f in "$LAB_HOME"/run/reviews/*.json; do
        send "$f" >"$LAB_HOME/run/burst-$round-$(basename "$f")"
    done
done
log "webhook on https://127.0.0.1:$port (metrics: http://127.0.0.1:$admin/metrics, log: $LAB_HOME/run/webhook.log)"
