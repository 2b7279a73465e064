#!/usr/bin/env bash
# Lab 01 reference solution: a key pair made with the real cosign, lab/app:1.0 signed with it
# (cosign's classic .sig tag, no transparency log: the key is the trust), and a ClusterImagePolicy
# that requires that public key for every image under the lab registry's lab/ repositories.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
lab_registry
cd "$LAB_HOME"
rm -f cosign.key cosign.pub
export COSIGN_PASSWORD=lab01
"$COSIGN" generate-key-pair >/dev/null 2>&1
"$COSIGN" sign --key cosign.key --tlog-upload=false --allow-insecure-registry --allow-http-registry \
    --yes "$REGISTRY/lab/app:1.0" >/dev/null 2>&1
lab_key_policy lab-images "$REGISTRY/lab/**" cosign.pub >policy.yaml
