#!/usr/bin/env bash
# Lab 08 reference solution: a new key and a certificate from the same CA, for the Service's DNS
# names, valid 30 days; written beside the served files, then renamed over them (a rename is
# atomic, so the server never reads a half-written file; until both are in place it keeps the
# old pair and /readyz says why).
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cd "$LAB_HOME"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=portcullis \
    -keyout tls/new.key -out tls/new.csr 2>/dev/null
printf 'subjectAltName=DNS:portcullis.portcullis-system.svc,DNS:portcullis.portcullis-system.svc.cluster.local\n' >tls/new.ext
openssl x509 -req -in tls/new.csr -CA ca/ca.crt -CAkey ca/ca.key -CAserial ca/ca.srl -days 30 \
    -extfile tls/new.ext -out tls/new.crt 2>/dev/null
mv tls/new.key tls/tls.key
mv tls/new.crt tls/tls.crt
rm -f tls/new.csr tls/new.ext
