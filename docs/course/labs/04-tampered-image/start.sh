#!/usr/bin/env bash
# Lab 04 start: the team pushes lab/app:1.0 and signs it with the team key; deployment.yaml runs
# it by tag; policy.yaml requires the team key. Then an attacker with push access re-pushes
# lab/app:1.0 with other content and signs it with a key of their own. Both private keys are
# gone from the workspace: only team.pub is left, as in a cluster.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
lab_registry
keys="$(mktemp -d)"
trap 'rm -rf "$keys"' EXIT
export PORTCULLIS_PASSWORD=lab04
"$LAB_BIN" keygen --output-key-prefix "$keys/team" >/dev/null 2>&1
"$LAB_BIN" keygen --output-key-prefix "$keys/attacker" >/dev/null 2>&1

# The release: pushed and signed by the team (cosign's classic .sig tag).
"$LAB_EXAMPLES/push_image" "$REGISTRY" lab/app 1.0 lab04-release >/dev/null
"$LAB_BIN" sign --key "$keys/team.key" --allow-http-registry --bundle-format classic \
    "$REGISTRY/lab/app:1.0" >/dev/null 2>&1

# What the team keeps: its public key, the policy, the deployment. The check uses the copies in
# run/, so an edited policy.yaml changes nothing it judges.
mkdir -p "$LAB_HOME/run"
cp "$keys/team.pub" "$LAB_HOME/team.pub"
cp "$keys/team.pub" "$LAB_HOME/run/team.pub"
lab_key_policy team-signed "127.0.0.1:*/lab/**" "$LAB_HOME/run/team.pub" >"$LAB_HOME/run/team-policy.yaml"
cp "$LAB_HOME/run/team-policy.yaml" "$LAB_HOME/policy.yaml"
sed "s|REGISTRY|$REGISTRY|" "$LAB_DIR/files/deployment.yaml" >"$LAB_HOME/deployment.yaml"

# The attack: same tag, other content, signed (so "it has a signature") by another key.
"$LAB_EXAMPLES/push_image" "$REGISTRY" lab/app 1.0 lab04-tampered >/dev/null
"$LAB_BIN" sign --key "$keys/attacker.key" --allow-http-registry --bundle-format classic \
    "$REGISTRY/lab/app:1.0" >/dev/null 2>&1
log "registry $REGISTRY: lab/app:1.0 was re-pushed after the release; admission now denies deployment.yaml"
