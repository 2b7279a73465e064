#!/usr/bin/env bash
# Lab 08: the API server's side while you rotate. One AdmissionReview every 200 ms, sent as the API
# server sends it (a new TLS connection, verified as the Service's DNS name against the caBundle
# it was given, ?timeout= on the URL), one line per result in the review log. Bounded: COUNT
# reviews at most (9000 × 200 ms ≈ 30 minutes), then a last "done" line.
#
#   review-loop.sh PORT CA-BUNDLE REVIEW-JSON LOG [COUNT]
set -euo pipefail
port="$1" bundle="$2" review="$3" log="$4" count="${5:-9000}"
host=portcullis.portcullis-system.svc
failed=0
for i in $(seq 1 "$count"); do
    at="$(date -u +%FT%T.%3NZ)"
    if out="$(curl -sS --max-time 3 --cacert "$bundle" --resolve "$host:$port:127.0.0.1" \
        -H 'Content-Type: application/json' --data-binary "@$review" \
        "https://$host:$port/validate?timeout=3s" 2>&1)" &&
        allowed="$(jq -er '.response.allowed' <<<"$out" 2>/dev/null)"; then
        printf '%s review %d ok allowed=%s\n' "$at" "$i" "$allowed" >>"$log"
    else
        failed=$((failed + 1))
        printf '%s review %d FAIL %s\n' "$at" "$i" "$(tr '\n' ' ' <<<"$out" | cut -c1-200)" >>"$log"
    fi
    sleep 0.2
done
printf '%s done: %d reviews, %d failed\n' "$(date -u +%FT%T.%3NZ)" "$count" "$failed" >>"$log"
