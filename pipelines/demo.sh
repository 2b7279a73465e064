#!/usr/bin/env bash
# make demo: the whole admission story on one machine, in a few minutes.
#
#   1. a loopback OCI registry (Debian docker-registry) with a signed + attested image and an
#      unsigned one;
#   2. `portcullis serve` over TLS with the shipped restricted + resource policies and a
#      ClusterImagePolicy trusting the demo key;
#   3. AdmissionReviews replayed the way the API server sends them (TLS verified against the CA
#      bundle, `?timeout=` on the URL), and a table of decisions with their reasons;
#   4. a policy object created, broken, fixed and deleted on the testkit's API-server-shaped test
#      server while reviews flow, with each step's effect on decisions and on its Ready status.
#
# No Kubernetes API server runs here: the replay acts like one, it is not one.
# Everything started is stopped on exit, by PID.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=pipelines/lib/common.sh
. pipelines/lib/common.sh

ROOT="$PORTCULLIS_ROOT"
DEMO="$ROOT/.work/demo"
rm -rf "$DEMO"
mkdir -p "$DEMO/policies" "$DEMO/reviews" "$DEMO/registry"
trap stop_pids EXIT
wait_http() { # URL [curl args...]: up to 20 s
  local url=$1; shift
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$@" "$url" 2>/dev/null && return 0; sleep 0.2; done
  die "nothing answered at $url"
}

log "building portcullis"
# --bins as well: given only --example, cargo builds just those examples, not the portcullis CLI.
cargo build -q -p portcullis-webhook -p portcullis-testkit --bins --example push_image --example sigstore_sign \
  --example demo_cluster_policies
BIN="$ROOT/target/debug/portcullis"
PUSH="$ROOT/target/debug/examples/push_image"
SIGSTORE="$ROOT/target/debug/examples/sigstore_sign"

REG_PORT=$(free_port)
REG="127.0.0.1:$REG_PORT"
registry_config "$DEMO/registry.yml" "$DEMO/registry" "$REG"
docker-registry serve "$DEMO/registry.yml" > "$DEMO/registry.log" 2>&1 &
PIDS+=($!)
wait_http "http://$REG/v2/"
log "registry on $REG"

# A registry that accepts connections and never answers: shows the deadline at work.
BLACKHOLE_PORT=$(free_port)
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$BLACKHOLE_PORT)); s.listen(64); time.sleep(3600)" &
PIDS+=($!)

export PORTCULLIS_PASSWORD=demo
"$BIN" keygen --output-key-prefix "$DEMO/release" 2>/dev/null
"$PUSH" "$REG" demo/app 1.0 signed-app > /dev/null
"$PUSH" "$REG" demo/unsigned 1.0 unsigned-app > /dev/null
cat > "$DEMO/provenance.json" <<'EOF'
{"buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1",
  "externalParameters": {"workflow": {"repository": "https://github.com/portcullis-dev/portcullis",
    "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}},
  "resolvedDependencies": []},
 "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"},
  "metadata": {"invocationId": "demo"}}}
EOF
"$BIN" sign --key "$DEMO/release.key" --allow-http-registry "$REG/demo/app:1.0" 2>/dev/null
"$BIN" attest --key "$DEMO/release.key" --allow-http-registry --type slsaprovenance1 \
  --predicate "$DEMO/provenance.json" "$REG/demo/app:1.0" 2>/dev/null
log "signed and attested $REG/demo/app:1.0; left $REG/demo/unsigned:1.0 unsigned"

# Keyless: a private test Sigstore (Fulcio-like CA, Rekor-like log) stands in for the public one
# and signs as two GitHub workflows; the webhook trusts its trusted_root.json by name.
"$PUSH" "$REG" release/app 1.0 keyless-app > /dev/null
"$PUSH" "$REG" release/fork 1.0 keyless-fork > /dev/null
mkdir -p "$DEMO/sigstore"
"$SIGSTORE" "$DEMO/sigstore" \
  "$REG/release/app:1.0=https://github.com/portcullis-dev/portcullis/.github/workflows/release.yml@refs/heads/main" \
  "$REG/release/fork:1.0=https://github.com/mallory/portcullis/.github/workflows/release.yml@refs/heads/main" > /dev/null
log "signed $REG/release/app:1.0 and $REG/release/fork:1.0 keyless (two different workflows)"

cp policies/library/pod-security-restricted.yaml policies/library/resource-limits.yaml "$DEMO/policies/"
{
  cat <<EOF
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: signed-images
spec:
  mode: enforce
  images: ["127.0.0.1:*/demo/**"]
  authorities:
    keys:
      - name: demo-release
        pem: |
EOF
  sed 's/^/          /' "$DEMO/release.pub"
  cat <<EOF
  attestations:
    - type: slsaprovenance1
      conditions:
        - path: \$.buildDefinition.externalParameters.workflow.repository
          operator: equals
          value: https://github.com/portcullis-dev/portcullis
  mutateDigest: true
EOF
} > "$DEMO/policies/signed-images.yaml"
cat > "$DEMO/policies/keyless-release.yaml" <<'EOF'
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: keyless-release
spec:
  images: ["127.0.0.1:*/release/**"]
  authorities:
    keyless:
      trustedRoot: demo-sigstore
      identities:
        - subjectRegExp: ^https://github\.com/portcullis-dev/portcullis/\.github/workflows/release\.yml@refs/heads/main$
          issuer: https://token.actions.githubusercontent.com
          claims:
            source-repository-uri: https://github.com/portcullis-dev/portcullis
EOF

# TLS: a CA and a serving certificate for the webhook Service name, as cert-manager would issue.
webhook_tls "$DEMO" DNS:portcullis.portcullis-system.svc,DNS:localhost,IP:127.0.0.1

PORT=$(free_port)
ADMIN=$(free_port)
"$BIN" serve --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN" \
  --tls-cert "$DEMO/tls.crt" --tls-key "$DEMO/tls.key" --policy "$DEMO/policies" \
  --allow-http-registry "$REG" --allow-http-registry "127.0.0.1:$BLACKHOLE_PORT" \
  --trusted-root "demo-sigstore=$DEMO/sigstore/trusted_root.json" \
  > "$DEMO/serve.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$ADMIN/readyz"
log "portcullis serve on https://127.0.0.1:$PORT (admin :$ADMIN), policies: $(cd "$DEMO/policies" && echo *.yaml)"

# pod NAME IMAGE SECURITY RESOURCES: a Pod as JSON.
pod() {
  jq -n --arg name "$1" --arg image "$2" --argjson sc "$3" --argjson res "$4" '{
    apiVersion: "v1", kind: "Pod", metadata: {name: $name, namespace: "demo", labels: {app: $name}},
    spec: {securityContext: {runAsNonRoot: true, seccompProfile: {type: "RuntimeDefault"}},
      containers: [{name: "app", image: $image, securityContext: $sc, resources: $res}]}}'
}
SAFE='{"runAsNonRoot": true, "runAsUser": 10001, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}'
ROOT_SC='{"runAsNonRoot": false, "runAsUser": 0, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}'
RES='{"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}'
review() { # UID POD-JSON
  jq -n --arg uid "$1" --argjson pod "$2" '{apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
    request: {uid: $uid, kind: {group: "", version: "v1", kind: "Pod"},
      resource: {group: "", version: "v1", resource: "pods"}, namespace: "demo", name: $pod.metadata.name,
      operation: "CREATE", userInfo: {username: "demo-user", groups: ["system:authenticated"]},
      object: $pod, dryRun: false}}'
}

CASES=(
  "signed, compliant|$REG/demo/app:1.0|$SAFE|$RES"
  "unsigned image|$REG/demo/unsigned:1.0|$SAFE|$RES"
  "keyless, release workflow|$REG/release/app:1.0|$SAFE|$RES"
  "keyless, other workflow|$REG/release/fork:1.0|$SAFE|$RES"
  "runs as root|$REG/demo/app:1.0|$ROOT_SC|$RES"
  "no resource limits|$REG/demo/app:1.0|$SAFE|{}"
  "registry not answering|127.0.0.1:$BLACKHOLE_PORT/demo/app:1.0|$SAFE|$RES"
)

printf '\n%-24s %-8s %8s  %s\n' "CASE" "ALLOWED" "TIME" "REASON / PATCH (time: /validate after /mutate)"
printf '%s\n' "--------------------------------------------------------------------------------------------------------"
i=0
for c in "${CASES[@]}"; do
  IFS='|' read -r label image sc res <<< "$c"
  i=$((i + 1))
  review "demo-$i" "$(pod "case-$i" "$image" "$sc" "$res")" > "$DEMO/reviews/$i.json"
  curl -fsS --cacert "$DEMO/ca.crt" --resolve "portcullis.portcullis-system.svc:$PORT:127.0.0.1" \
    -H 'Content-Type: application/json' --data-binary "@$DEMO/reviews/$i.json" \
    "https://portcullis.portcullis-system.svc:$PORT/mutate?timeout=3s" > "$DEMO/reviews/$i.mutate.json"
  start=$(date +%s%N)
  curl -fsS --cacert "$DEMO/ca.crt" --resolve "portcullis.portcullis-system.svc:$PORT:127.0.0.1" \
    -H 'Content-Type: application/json' --data-binary "@$DEMO/reviews/$i.json" \
    "https://portcullis.portcullis-system.svc:$PORT/validate?timeout=3s" > "$DEMO/reviews/$i.validate.json"
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  allowed=$(jq -r '.response.allowed' "$DEMO/reviews/$i.validate.json")
  if [ "$allowed" = "true" ]; then
    detail=$(jq -r '.response.patch // empty | @base64d | fromjson | map(select(.path|test("image$"))) | .[0].value // "no patch"' \
      "$DEMO/reviews/$i.mutate.json")
    detail="pinned: $detail"
  else
    detail=$(jq -r '.response.status.message' "$DEMO/reviews/$i.validate.json")
    more=$(($(printf '%s\n' "$detail" | wc -l) - 1))
    detail=$(printf '%s\n' "$detail" | head -n 1)
    [ "$more" -gt 0 ] && detail="$detail (+$more more)"
  fi
  printf '%-24s %-8s %6sms  %s\n' "$label" "$allowed" "$ms" "$detail"
done
printf '\n'
log "reviews and responses are in $DEMO/reviews; server log in $DEMO/serve.log"

log "a policy applied to the cluster while reviews flow (the testkit's list/watch test server)"
"$ROOT/target/debug/examples/demo_cluster_policies" "$BIN"
