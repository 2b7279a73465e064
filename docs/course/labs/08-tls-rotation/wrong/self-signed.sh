#!/usr/bin/env bash
# A plausible wrong answer: a fresh self-signed certificate with the right names ("it is just for
# TLS"). The API server trusts only the caBundle, so every review after the swap fails.
# expect: not signed by the CA
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
cd "$LAB_HOME"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=portcullis \
    -addext subjectAltName=DNS:portcullis.portcullis-system.svc,DNS:portcullis.portcullis-system.svc.cluster.local \
    -keyout tls/new.key -out tls/new.crt 2>/dev/null
mv tls/new.key tls/tls.key
mv tls/new.crt tls/tls.crt
