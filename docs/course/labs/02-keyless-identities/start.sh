#!/usr/bin/env bash
# Lab 02 start: a loopback registry with seven images, each signed keyless by a private test
# Sigstore as a different GitHub Actions identity (files/signers.txt), that Sigstore's trusted
# root, a Pod per image to evaluate, and the team's first, too loose, policy.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source=docs/course/labs/02-keyless-identities/signers.sh
. "$LAB_DIR/signers.sh"

lab_registry
sign_args=() pushes=()
# The seven pushes at once (each its own repository), then one signing run: one Sigstore.
while IFS='|' read -r repo _ identity _; do
    "$LAB_EXAMPLES/push_image" "$REGISTRY" "$repo" 1.0 "lab02-$repo" >/dev/null &
    pushes+=($!)
    sign_args+=("$REGISTRY/$repo:1.0=$identity")
done < <(signers)
for pid in "${pushes[@]}"; do wait "$pid" || die "pushing an image to the lab registry $REGISTRY failed"; done
mkdir -p "$LAB_HOME/sigstore"
"$LAB_EXAMPLES/sigstore_sign" "$LAB_HOME/sigstore" "${sign_args[@]}" >"$LAB_HOME/sigstore/signed.log"

signer_pods >"$LAB_HOME/pods.yaml"
{
    echo "# Images of the lab registry $REGISTRY and the identity each was signed keyless as."
    signers | while IFS='|' read -r repo _ identity _; do printf '%-24s %s\n' "$repo:1.0" "$identity"; done
} >"$LAB_HOME/signers.txt"
cp "$LAB_DIR/files/policy.yaml" "$LAB_HOME/policy.yaml"
