#!/usr/bin/env bash
# Drill key-compromise: the release signing key (A) has leaked. Rotate to a new key (B), re-sign
# what is deployed, trust only B, and prove the stolen key no longer gets anything admitted.
#
#   1. A loopback registry (docker-registry); key A; drill/app:1.0 pushed and signed with A; the
#      webhook serving a ClusterImagePolicy for 127.0.0.1:*/drill/** that trusts A.
#   2. The attacker, holding A, pushes drill/app:1.1-evil and signs it: admitted (the exposure
#      this drill closes).
#   3. Rotation, each step timed: key B generated; drill/app:1.0 re-signed with B; the policy
#      rewritten to trust only B (the webhook reloads its policy files, no restart).
#   4. Proof: drill/app:1.0 admitted (B's signature); the attacker's image denied with its reason;
#      a new attacker image signed with A after the rotation denied too; an image signed only
#      with A and never re-signed (drill/worker:1.0) denied — what a forgotten re-signing costs.
# Reviews go to /validate as the API server sends them (CA-verified TLS, ?timeout=).
# shellcheck source-path=SCRIPTDIR source=../lib/drill.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/drill.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/drill-webhook.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/drill-webhook.sh"

need_bins
export PORTCULLIS_PASSWORD=drill # the keys' passphrase (throwaway keys)

registry_start() {
    local port
    port="$(free_port)"
    REG="127.0.0.1:$port"
    mkdir -p "$DRILL_DIR/registry"
    registry_config "$DRILL_DIR/registry.yml" "$DRILL_DIR/registry" "$REG"
    docker-registry serve "$DRILL_DIR/registry.yml" >"$DRILL_DIR/registry.log" 2>&1 &
    PIDS+=($!)
    wait_http "http://$REG/v2/"
}

# policy KEY-NAME PUB: the ClusterImagePolicy file trusting only that key, replaced atomically
# (as a ConfigMap update lands: the webhook never reads half a file).
policy() {
    {
        cat <<EOF
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: release-signed
spec:
  mode: enforce
  images: ["127.0.0.1:*/drill/**"]
  authorities:
    keys:
      - name: $1
        pem: |
EOF
        sed 's/^/          /' "$2"
    } >"$DRILL_DIR/policy.tmp"
    mv "$DRILL_DIR/policy.tmp" "$DRILL_DIR/policies/release-signed.yaml"
}

timed() { # LABEL CMD…: run CMD, print its time as a figure
    local label="$1" t
    shift
    t="$(now_ms)"
    "$@" >>"$DRILL_DIR/steps.log" 2>&1 || die "$label failed (see ${DRILL_DIR#"$PORTCULLIS_ROOT"/}/steps.log)"
    figure "$label" "$(since "$t")s"
}

# decision IMAGE: "allowed" or "denied: MESSAGE" from the webhook's /validate (review and
# response kept in $DRILL_DIR/reviews).
decision() {
    local n
    n="$(now_ms)-$RANDOM"
    mkdir -p "$DRILL_DIR/reviews"
    pod_review "key-$n" "app-$n" "$1" >"$DRILL_DIR/reviews/review-$n.json"
    review_allowed "$DRILL_DIR/reviews/review-$n.json" >"$DRILL_DIR/reviews/response-$n.json" ||
        die "calling /validate failed"
    jq -r 'if .response.allowed then "allowed" else "denied: " + .response.status.message end' \
        "$DRILL_DIR/reviews/response-$n.json"
}

# expect IMAGE allowed|denied [PATTERN]
expect() {
    local got
    got="$(decision "$1")"
    printf 'drill/%s:              %-34s %s\n' "$DRILL" "${1#"$REG"/}" "$(head -n 1 <<<"$got" | sed 's/^denied: .*: signed by/denied: signed by/' | cut -c1-150)"
    [[ $got == "$2"* ]] || die "${1#"$REG"/} should be $2: $got"
    [[ -z ${3:-} ]] || grep -Eq "$3" <<<"$got" || die "${1#"$REG"/}: expected /$3/ in: $got"
}

step "registry, key A, drill/app:1.0 and drill/worker:1.0 pushed and signed with A; webhook trusting A"
registry_start
"$BIN" keygen --output-key-prefix "$DRILL_DIR/key-a" >>"$DRILL_DIR/steps.log" 2>&1
for image in app:1.0 worker:1.0; do
    "$EXAMPLES/push_image" "$REG" "drill/${image%%:*}" "${image#*:}" "release-$image" >>"$DRILL_DIR/steps.log"
    "$BIN" sign --key "$DRILL_DIR/key-a.key" --allow-http-registry "$REG/drill/$image" >>"$DRILL_DIR/steps.log" 2>&1
done
mkdir -p "$DRILL_DIR/policies"
policy release-a "$DRILL_DIR/key-a.pub"
webhook_tls "$DRILL_DIR" "DNS:$SERVICE_DNS,IP:127.0.0.1"
serve_start --policy "$DRILL_DIR/policies" --allow-http-registry "$REG" --no-match deny --policy-reload-interval 1s
expect "$REG/drill/app:1.0" allowed

step "compromise: the attacker pushes drill/app:1.1-evil and signs it with the stolen key A"
"$EXAMPLES/push_image" "$REG" drill/app 1.1-evil "attacker-1" >>"$DRILL_DIR/steps.log"
"$BIN" sign --key "$DRILL_DIR/key-a.key" --allow-http-registry "$REG/drill/app:1.1-evil" >>"$DRILL_DIR/steps.log" 2>&1
expect "$REG/drill/app:1.1-evil" allowed

step "rotate: key B, re-sign drill/app:1.0 with B, policy trusts only B"
t_rotate="$(now_ms)"
timed "keygen B" "$BIN" keygen --output-key-prefix "$DRILL_DIR/key-b"
timed "re-sign app:1.0 with B" "$BIN" sign --key "$DRILL_DIR/key-b.key" --allow-http-registry "$REG/drill/app:1.0"
t=$(now_ms)
policy release-b "$DRILL_DIR/key-b.pub"
# shellcheck disable=SC2329 # called through wait_for
denied_now() { [[ $(decision "$REG/drill/app:1.1-evil") == denied* ]]; }
wait_for 15 denied_now || die "the webhook still admits the attacker's image 15 s after the policy change"
figure "policy live (evil denied)" "$(since "$t")s"
figure "rotation total" "$(since "$t_rotate")s"

step "proof"
expect "$REG/drill/app:1.0" allowed
expect "$REG/drill/app:1.1-evil" denied 'release-signed/verifyImage: .*signed by 0 of the 1 required trusted key.*[(]release-b[)]'
"$EXAMPLES/push_image" "$REG" drill/app 1.2-evil "attacker-2" >>"$DRILL_DIR/steps.log"
"$BIN" sign --key "$DRILL_DIR/key-a.key" --allow-http-registry "$REG/drill/app:1.2-evil" >>"$DRILL_DIR/steps.log" 2>&1
expect "$REG/drill/app:1.2-evil" denied 'release-signed/verifyImage: .*signed by 0 of the 1 required trusted key.*[(]release-b[)]'
expect "$REG/drill/worker:1.0" denied 'release-signed/verifyImage: .*signed by 0 of the 1 required trusted key.*[(]release-b[)]'
drill_pass
