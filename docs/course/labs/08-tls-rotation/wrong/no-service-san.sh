#!/usr/bin/env bash
# A plausible wrong answer: issued from the right CA, but with only a CN and the short name (the
# usual `openssl req -subj /CN=…` without an extensions file): no DNS name the API server calls.
# expect: does not name portcullis.portcullis-system.svc
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cd "$LAB_HOME"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=portcullis.portcullis-system.svc \
    -keyout tls/new.key -out tls/new.csr 2>/dev/null
printf 'subjectAltName=DNS:portcullis\n' >tls/new.ext
openssl x509 -req -in tls/new.csr -CA ca/ca.crt -CAkey ca/ca.key -CAserial ca/ca.srl -days 30 \
    -extfile tls/new.ext -out tls/new.crt 2>/dev/null
mv tls/new.key tls/tls.key
mv tls/new.crt tls/tls.crt
