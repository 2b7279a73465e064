#!/usr/bin/env bash
# Lab 10 reference solution: the policy trusts the jobs team's new release key (published in
# keys/), still enforcing; the incident note names the cause and where it shows.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
{
    sed '/^      - name: /,$d' "$LAB_HOME/policies/jobs-images.yaml"
    echo "      - name: jobs-release-2026-12"
    echo "        pem: |"
    sed 's/^/          /' "$LAB_HOME/keys/jobs-release-2026-12.pub"
} >"$LAB_HOME/policies/jobs-images.yaml.new"
mv "$LAB_HOME/policies/jobs-images.yaml.new" "$LAB_HOME/policies/jobs-images.yaml"
cat >"$LAB_HOME/incident.md" <<'MD'
# Incident: jobs deployments denied

cause: the jobs team rotated its release key and re-signed jobs/api:1.4 with the new key; the
ClusterImagePolicy jobs-images still trusted only the old key, so every verification failed with
no-trusted-key. The registry was fine (200/404 only; web/frontend from it verified).
evidence: portcullis_image_verifications_total{result="no-trusted-key"} rising while
portcullis_registry_requests_total has no 429 or error; the log lines "Verification failed" have
code=no-trusted-key (error: "signed by 0 of the 1 required trusted key(s)").

fix: added the new public key (keys/jobs-release-2026-12.pub) to jobs-images, mode still enforce.
MD
