#!/usr/bin/env bash
# Lab 02 check: the workspace's policy.yaml, evaluated the way admission decides, admits the image
# the release workflow on main signed and denies each of the six others. The images, their signers
# and the Pods are the lab's own (files/signers.txt), not the workspace's copies; an image the
# policy does not cover counts as admitted (--no-match allow), as it would be in the cluster.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source=docs/course/labs/02-keyless-identities/signers.sh
. "$LAB_DIR/signers.sh"
policy="$LAB_HOME/policy.yaml"

[[ -f $policy ]] || { finding "there is no policy.yaml in $LAB_HOME"; check_done; }
if ! docs="$(lab_yaml "$policy" 2>&1)"; then
    finding "policy.yaml does not parse: $docs"
    check_done
fi
kinds="$(jq -r 'map(.kind // "no kind") | join(", ")' <<<"$docs")"
if ! jq -e 'length == 1 and .[0].kind == "ClusterImagePolicy"' <<<"$docs" >/dev/null; then
    finding "policy.yaml must hold exactly one ClusterImagePolicy (it holds: ${kinds:-nothing}); the identities decide, not a policy per image"
    check_done
fi
keyless="$(jq -c '.[0].spec.authorities.keyless // empty' <<<"$docs")"
if [[ -z $keyless ]]; then
    finding "the policy has no spec.authorities.keyless: the signer identities go under its identities list"
    check_done
fi
root="$(jq -r '.trustedRoot // ""' <<<"$keyless")"
[[ $root == "$TRUSTED_ROOT_NAME" ]] ||
    finding "spec.authorities.keyless.trustedRoot is \"$root\": the lab's Sigstore is named $TRUSTED_ROOT_NAME"

lab_registry
pods="$(mktemp)"
trap 'rm -f "$pods"' EXIT
signer_pods >"$pods"
rc=0
out="$("$LAB_BIN" evaluate --policy "$policy" --trusted-root "$TRUSTED_ROOT_NAME=$LAB_HOME/sigstore/trusted_root.json" \
    --allow-http-registry --no-match warn --timeout 30s --output json "$pods" 2>&1)" || rc=$?
if [[ $rc -gt 1 ]]; then
    finding "portcullis evaluate cannot use policy.yaml: $out"
    check_done
fi

while IFS='|' read -r repo verdict identity why; do
    result="$(jq -c --arg n "${repo##*/}" 'select(.name == $n)' <<<"$out")"
    if [[ -z $result ]]; then
        finding "$repo:1.0: portcullis evaluate gave no decision for it"
        continue
    fi
    allowed="$(jq -r .allowed <<<"$result")"
    if [[ $verdict == admit && $allowed != true ]]; then
        finding "$repo:1.0 (signed by $identity) is denied, but it is the release: $(jq -r '[.reasons[].message] | join("; ")' <<<"$result")"
    elif [[ $verdict == deny && $allowed == true ]]; then
        uncovered=""
        jq -e '.warnings | length > 0' <<<"$result" >/dev/null && uncovered=" (no image pattern of the policy covers it)"
        finding "$repo:1.0 is admitted$uncovered, but its signer $identity is $why"
    fi
done < <(signers)
check_done
