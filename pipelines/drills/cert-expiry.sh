#!/usr/bin/env bash
# Drill cert-expiry: the webhook's serving certificate expires (cert-manager did not renew it, or
# the renewed Secret never reached the pods). Reviews fail TLS verification; a new certificate
# from the same CA, written into the files `portcullis serve` reads, brings admission back
# without a restart.
#
#   1. A CA (as cert-manager's portcullis-ca) and a serving certificate for the Service name that
#      expires CERT_LIFETIME seconds after issue (`openssl ca` with explicit -startdate/-enddate:
#      this openssl 3.0 has no -not_after); `portcullis serve` with it.
#   2. Reviews replayed as the API server sends them against the prod webhook configurations
#      (pipelines/py/apiserver_admit.py: CA bundle, Service name, failurePolicy): admitted.
#   3. Past notAfter: the same review is rejected, "failed calling webhook … certificate has
#      expired" (failurePolicy Fail), although the process is healthy.
#   4. Rotation as cert-manager does it (rotationPolicy: Always, so a new key too): key and
#      certificate written into the same files, each replaced atomically. The webhook re-reads
#      them (--tls-reload-interval); the first admitted review stops the clock. Same PID, one
#      more successful reload in portcullis_tls_reloads_total, the new serial on the wire.
# No API server runs here: the replay decides as the API server's dispatcher does, it is not one.
# shellcheck source-path=SCRIPTDIR source=../lib/drill.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/drill.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/drill-webhook.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/drill-webhook.sh"

CERT_LIFETIME="${DRILL_CERT_LIFETIME:-6}" # seconds
need_bins

# issue SECONDS: a new key and a certificate for the Service name, from the CA in $DRILL_DIR,
# valid from a minute ago for SECONDS more; written to new.key/new.crt.
issue() {
    local ca="$DRILL_DIR/ca-db"
    mkdir -p "$ca/newcerts"
    [[ -f $ca/index.txt ]] || : >"$ca/index.txt"
    [[ -f $ca/serial ]] || openssl rand -hex 8 >"$ca/serial"
    cat >"$ca/ca.cnf" <<EOF
[ca]
default_ca = drill
[drill]
database = $ca/index.txt
new_certs_dir = $ca/newcerts
serial = $ca/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
EOF
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=portcullis \
        -keyout "$DRILL_DIR/new.key" -out "$DRILL_DIR/new.csr" 2>/dev/null
    openssl ca -batch -notext -config "$ca/ca.cnf" -cert "$DRILL_DIR/ca.crt" -keyfile "$DRILL_DIR/ca.key" \
        -in "$DRILL_DIR/new.csr" -out "$DRILL_DIR/new.crt" -extfile "$DRILL_DIR/san.ext" \
        -startdate "$(date -u -d '-60 seconds' +%Y%m%d%H%M%SZ)" \
        -enddate "$(date -u -d "+$1 seconds" +%Y%m%d%H%M%SZ)" >>"$DRILL_DIR/openssl.log" 2>&1 ||
        die "openssl ca could not issue the certificate (see ${DRILL_DIR#"$PORTCULLIS_ROOT"/}/openssl.log)"
}

install_new() { # as the kubelet updates a mounted Secret: each file replaced at once, key first
    mv "$DRILL_DIR/new.key" "$DRILL_DIR/tls.key"
    mv "$DRILL_DIR/new.crt" "$DRILL_DIR/tls.crt"
}

served_serial() {
    openssl s_client -connect "127.0.0.1:$PORT" -servername "$SERVICE_DNS" </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
reloads_ok() {
    curl -fsS "http://127.0.0.1:$ADMIN/metrics" | awk '/^portcullis_tls_reloads_total\{result="success"\}/ { print $2 }'
}
admitted_now() { admit "$DRILL_DIR/prod.yaml" "$ENFORCED" "$DRILL_DIR/compliant.json" >"$DRILL_DIR/last.json"; }
# shellcheck disable=SC2329 # called through wait_for
rejected_now() { ! admitted_now; }
show() {
    printf 'drill/%s:              %s\n' "$DRILL" "$(jq -r 'if .admitted then "admitted  " + .by
        else "rejected  " + .by + ": failed calling webhook: " + (.message | sub("(?s).*curl: "; "curl: ")) end' \
        "$DRILL_DIR/last.json" | head -n 1 | cut -c1-170)"
}

step "CA, a serving certificate valid for ${CERT_LIFETIME}s more, portcullis serve"
render_webhook prod "$DRILL_DIR/prod.yaml"
webhook_tls "$DRILL_DIR" "DNS:$SERVICE_DNS,IP:127.0.0.1" # the CA (its 1-day leaf is replaced next)
issue "$CERT_LIFETIME"
install_new
not_after="$(openssl x509 -noout -enddate -in "$DRILL_DIR/tls.crt" | cut -d= -f2)"
mkdir -p "$DRILL_DIR/policies"
cp "$PORTCULLIS_ROOT/policies/library/pod-security-restricted.yaml" "$DRILL_DIR/policies/"
serve_start --policy "$DRILL_DIR/policies" --no-match allow --tls-reload-interval 1s
pid="$SERVE_PID"
pod_review expiry-1 app 127.0.0.1:5000/jobs/api:1.0 >"$DRILL_DIR/compliant.json"
admitted_now || die "a compliant review was not admitted before expiry: $(cat "$DRILL_DIR/last.json")"
show
old_serial="$(served_serial)"
[[ -n $old_serial ]] || die "no certificate served on 127.0.0.1:$PORT"
step "serial $old_serial served, notAfter $not_after"

step "wait for notAfter; reviews as the API server sends them"
expiry_ms="$(($(date -d "$not_after" +%s) * 1000))"
wait_for $((CERT_LIFETIME + 10)) rejected_now || die "reviews still admitted ${CERT_LIFETIME}+10 s after issue"
show
grep -q 'certificate has expired' "$DRILL_DIR/last.json" ||
    die "the rejection should name the expired certificate: $(cat "$DRILL_DIR/last.json")"
figure "rejected after notAfter" "$(since "$expiry_ms")s"
kill -0 "$pid" || die "portcullis (pid $pid) died; the drill is about a live process with a dead certificate"

step "rotate: new key and certificate from the same CA into tls.key/tls.crt (pid $pid keeps running)"
before="$(reloads_ok)"
issue 86400
t_rotate="$(now_ms)"
install_new
wait_for 20 admitted_now || die "reviews still rejected 20 s after the rotation: $(cat "$DRILL_DIR/last.json")"
figure "recovered after rotation" "$(since "$t_rotate")s"
figure "admission outage" "$(since "$expiry_ms")s"
show
if [[ $SERVE_PID != "$pid" ]] || ! kill -0 "$pid"; then
    die "portcullis was restarted: the rotation must not need it"
fi
after="$(reloads_ok)"
[[ -n $before && -n $after && $after -gt $before ]] ||
    die "portcullis_tls_reloads_total{result=\"success\"} did not grow ($before -> $after)"
new_serial="$(served_serial)"
[[ -n $new_serial && $new_serial != "$old_serial" ]] || die "the served serial is still $old_serial after the rotation"
step "same pid $pid; successful TLS reloads $before -> $after; serial $old_serial -> $new_serial"
drill_pass
