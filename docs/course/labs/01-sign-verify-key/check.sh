#!/usr/bin/env bash
# Lab 01 check, on the outcome only: the registry holds a signature of lab/app:1.0's digest that
# the workspace's cosign.pub verifies (portcullis, and cosign as a second opinion); policy.yaml is
# a ClusterImagePolicy holding no private key that, evaluated by portcullis against the registry,
# admits a Pod of lab/app:1.0 and denies one of the unsigned lab/other:1.0 (so it covers lab/).
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
pub="$LAB_HOME/cosign.pub"
policy="$LAB_HOME/policy.yaml"
app="$REGISTRY/lab/app:1.0"
other="$REGISTRY/lab/other:1.0"
lab_registry # again, if it was stopped since the start

pod() { # NAME IMAGE: a Pod manifest file, fresh (not the workspace's pods/)
    local f="$LAB_HOME/run/check-$1.json"
    mkdir -p "$LAB_HOME/run"
    lab_pod "$1" "$2" >"$f"
    echo "$f"
}

# verifies KEY IMAGE: does portcullis verify a signature of IMAGE by KEY? (error line in VERIFY_ERR)
verifies() {
    VERIFY_ERR="$("$LAB_BIN" verify --allow-http-registry --timeout 10s --key "$1" "$2" 2>&1 >/dev/null)"
}

# A second opinion from cosign itself: cosign 3 reads both signature formats (cosign's classic .sig
# tag and the Sigstore bundles portcullis sign writes by default); cosign 2 reads the classic only.
cosign_verifies() {
    local tool="$PORTCULLIS_WORK/tools/bin/cosign3"
    [[ -x $tool ]] || tool="$COSIGN"
    COSIGN_OUT="$("$tool" verify --key "$1" --insecure-ignore-tlog --allow-insecure-registry \
        --allow-http-registry "$2" 2>&1 >/dev/null)"
}

check_signature() {
    if [[ ! -f $pub ]]; then
        finding "no cosign.pub in the workspace: make a key pair there (cosign generate-key-pair, or portcullis keygen)"
        return
    fi
    if ! openssl pkey -pubin -in "$pub" -noout 2>/dev/null; then
        finding "cosign.pub is not a PEM public key (-----BEGIN PUBLIC KEY-----)"
        return
    fi
    if ! verifies "$pub" "$app"; then
        local err="${VERIFY_ERR#Error: }" also=""
        if verifies "$pub" "$other"; then
            also=" (lab/other:1.0 is signed with it: you signed the wrong image)"
            OTHER_SIGNED=1
        fi
        finding "lab/app:1.0 has no signature that verifies with cosign.pub$also: $err"
        return
    fi
    APP_SIGNED=1
    if ! cosign_verifies "$pub" "$app"; then
        finding "portcullis verifies lab/app:1.0 with cosign.pub but cosign does not: $(tail -n 1 <<<"$COSIGN_OUT")"
    fi
}

check_policy() {
    if [[ ! -f $policy ]]; then
        finding "no policy.yaml in the workspace: write a ClusterImagePolicy requiring your key for $REGISTRY/lab/ images"
        return
    fi
    local docs
    if ! docs="$(lab_yaml "$policy" 2>&1)"; then
        finding "policy.yaml does not parse: $docs"
        return
    fi
    if ! jq -e 'any(.[]; .kind == "ClusterImagePolicy")' <<<"$docs" >/dev/null; then
        finding "policy.yaml holds no ClusterImagePolicy (found kinds: $(jq -r '[.[].kind] | join(", ")' <<<"$docs"))"
        return
    fi
    if grep -q 'PRIVATE KEY' "$policy"; then
        finding "policy.yaml contains a private key ($(grep -m 1 -o -- '-----BEGIN [A-Z ]*PRIVATE KEY-----' "$policy")): a policy trusts public keys only; paste cosign.pub, and keep cosign.key out of every manifest"
        return
    fi
    lab_evaluate "$policy" "$(pod app "$app")" deny
    case $EVAL_RC in
        0) ;;
        1)
            # Denying an unsigned lab/app is right: the signature's finding says what to do.
            if [[ -n $APP_SIGNED ]]; then
                while IFS= read -r r; do finding "your policy denies lab/app:1.0 (signed): $r"; done < <(lab_reasons)
            fi
            ;;
        *) finding "portcullis cannot load policy.yaml: $EVAL_OUT"; return ;;
    esac
    # Whether the policy covers lab/: the unsigned lab/other must be denied (unless it was signed).
    [[ -z $OTHER_SIGNED ]] || return 0
    lab_evaluate "$policy" "$(pod other "$other")" warn
    if [[ $EVAL_RC -eq 0 ]]; then
        if lab_warnings | grep -q 'no ClusterImagePolicy matches'; then
            finding "your policy does not cover lab/other:1.0 (unsigned, admitted): no ClusterImagePolicy matches $other; spec.images must match every image under $REGISTRY/lab/"
        else
            finding "your policy admits lab/other:1.0, which nobody signed$(lab_warnings | sed -n '1s/^/: /p')"
        fi
    fi
}

APP_SIGNED="" OTHER_SIGNED=""
check_signature
check_policy
check_done
