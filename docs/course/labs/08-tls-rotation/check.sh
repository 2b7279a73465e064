#!/usr/bin/env bash
# Lab 08 check: what the running webhook presents now, judged as the API server would (against the
# CA bundle it was given at the start, as the Service's DNS name), and what the review loop saw
# while the certificate changed: no failed review since the start, reviews still answered after it.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
: "${PORT:?lab.env has no PORT: run make lab-start LAB=08}"
HOST=portcullis.portcullis-system.svc
bundle="$LAB_HOME/run/ca-bundle.pem"
reviews="$LAB_HOME/reviews.log"
served="$LAB_HOME/run/served.pem"

if ! lab_running webhook; then
    finding "portcullis serve is not running any more: a rotation must not need a restart (the server re-reads --tls-cert/--tls-key); make lab-start LAB=08 and rotate again"
    check_done
fi

# served: the leaf certificate the webhook presents to a client asking for the Service's name.
fetch_served() {
    openssl s_client -connect "127.0.0.1:$PORT" -servername "$HOST" </dev/null 2>/dev/null |
        openssl x509 >"$served" 2>/dev/null
}
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }

# The server checks its files every second: give a rotation just made a few seconds to show.
fp=""
for _ in $(seq 1 15); do
    if fetch_served; then
        fp="$(fingerprint "$served")"
        [[ $fp == "$START_CERT" ]] || break
    fi
    sleep 0.2
done
if [[ -z $fp ]]; then
    finding "the webhook on 127.0.0.1:$PORT completes no TLS handshake: a client cannot get a certificate from it"
    check_done
fi
if [[ $fp == "$START_CERT" ]]; then
    ready="$(curl -s "http://127.0.0.1:$ADMIN/readyz" | grep -F '[!]' || true)"
    finding "the webhook still presents the start certificate (expires $(openssl x509 -in "$served" -noout -enddate | cut -d= -f2)): issue a new one and replace tls/tls.crt and tls/tls.key${ready:+; /readyz says: $ready}"
else
    subject="$(openssl x509 -in "$served" -noout -subject -issuer | tr '\n' ' ')"
    if ! out="$(openssl verify -CAfile "$bundle" "$served" 2>&1)"; then
        finding "the certificate now served ($subject) is not signed by the CA in the API server's caBundle (run/ca-bundle.pem, the same as ca/ca.crt): openssl verify says: $(tail -n 2 <<<"$out" | tr '\n' ' ')- issue it from ca/ca.crt and ca/ca.key"
    fi
    sans="$(openssl x509 -in "$served" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')"
    # Exactly the DNS name, in the subjectAltName: the API server (Go) never falls back to the CN.
    if ! tr ',' '\n' <<<"$sans" | grep -qxF "DNS:$HOST"; then
        finding "the certificate now served does not name $HOST in its subjectAltName (it has: ${sans:-no subjectAltName}): the API server calls the webhook by its Service's DNS name and refuses any other (a CN is not enough)"
    fi
    if ! openssl x509 -in "$served" -noout -checkend 172800 >/dev/null; then
        finding "the certificate now served expires $(openssl x509 -in "$served" -noout -enddate | cut -d= -f2), within 2 days: issue it for longer than the one it replaces (cert-manager's default is 90 days)"
    fi
fi

# The review loop: every line since the start, and new answers after the rotation.
before="$(wc -l <"$reviews")"
grew=0
for _ in $(seq 1 15); do
    sleep 0.2
    if [[ $(wc -l <"$reviews") -gt $before ]]; then grew=1; break; fi
done
fails="$(grep -c ' FAIL ' "$reviews" || true)"
if [[ $fails -gt 0 ]]; then
    finding "$fails of $(grep -c ' review ' "$reviews") reviews failed since the start; the first: $(grep -m 1 ' FAIL ' "$reviews" | cut -c1-220) (reviews.log)"
fi
if [[ $grew -eq 0 ]]; then
    if grep -q ' done: ' "$reviews"; then
        finding "the review loop finished its 30 minutes before the new certificate could be judged under load: make lab-start LAB=08 and rotate within 30 minutes"
    elif ! lab_running reviews; then
        finding "the review loop stopped without finishing (last line: $(tail -n 1 "$reviews")): it stands for the API server, leave it running"
    else
        finding "the review loop logged nothing for 3 seconds: the webhook is not answering (last line: $(tail -n 1 "$reviews"))"
    fi
elif ! tail -n 1 "$reviews" | grep -q ' ok allowed='; then
    finding "the latest review did not succeed: $(tail -n 1 "$reviews" | cut -c1-220)"
fi
check_done
