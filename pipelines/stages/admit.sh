#!/usr/bin/env bash
# Stage 10 (local end to end), admit: replay the Deployments of the pushed images through
# `portcullis serve` over TLS, as the API server would, then tamper with the chain and show each
# break denied with its reason. Usage: admit.sh [IMAGE...]
#
# Policies: the shipped pod-security-restricted and resource-limits, plus a ClusterImagePolicy for
# $PIPELINE_REGISTRY/** trusting the pipeline key and requiring SLSA provenance from this
# repository, pinning verified tags to digests in Deployments too (mutateDigestControllers).
#
# Cases (the Deployments come from `kubectl kustomize deploy/overlays/dev/<overlay>` with the
# image replaced by the pushed one; tampered images are the built one plus a file, so that each
# has a digest of its own):
#   every image, as built          allowed, and /mutate pins the image to the built digest
#   unsigned image                 built outside the pipeline, pushed, never signed
#   provenance from another repo   signed with the pipeline key, provenance naming a fork
#   build as root                  image config USER 0, signed and attested honestly; the
#                                  Deployment runs it as uid 0 (and the verify stage refuses it)
#   tag re-pushed after signing    a modified image pushed over the signed sha-* tag
#   promoted tag@digest after it   the pinned reference promote writes: still the signed image
#                                  (and the verify stage, re-run, reports the moved tag)
# Exits non-zero if any case's decision is not the expected one. No API server runs here: the
# replay acts like one (TLS verified against the CA, ?timeout= on the URL), it is not one.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/images.sh"

ADMIT="$PIPELINE_OUT/admit"
trap stop_pids EXIT

# --- fixtures ----------------------------------------------------------------------------------

write_policies() {
    local repo="$1"
    mkdir -p "$ADMIT/policies"
    cp "$PORTCULLIS_ROOT/policies/library/pod-security-restricted.yaml" \
        "$PORTCULLIS_ROOT/policies/library/resource-limits.yaml" "$ADMIT/policies/"
    {
        cat <<EOF
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: pipeline-images
spec:
  mode: enforce
  images: ["${PIPELINE_REGISTRY%%/*}/**"]
  authorities:
    keys:
      - name: pipeline
        pem: |
EOF
        sed 's/^/          /' "$PIPELINE_PUB"
        cat <<EOF
  attestations:
    - type: slsaprovenance1
      conditions:
        - path: \$.buildDefinition.externalParameters.workflow.repository
          operator: equals
          value: $repo
  mutateDigest: true
  mutateDigestControllers: true
EOF
    } >"$ADMIT/policies/pipeline-images.yaml"
}

# deployment NAME IMAGE [root]: the dev overlay's Deployment for NAME as JSON, its container
# image replaced by IMAGE; with "root", made to run as uid 0.
deployment() {
    local name="$1" image="$2" mode="${3:-}" overlay deploy
    read -r overlay deploy <<<"$(image_deployment "$name")"
    kubectl kustomize "$PORTCULLIS_ROOT/deploy/overlays/dev/$overlay" |
        python3 -c '
import json, sys, yaml
deploy, upstream, image, mode = sys.argv[1:5]
for d in yaml.safe_load_all(sys.stdin):
    if d and d.get("kind") == "Deployment" and d["metadata"]["name"] == deploy:
        spec = d["spec"]["template"]["spec"]
        n = 0
        for c in spec.get("containers", []):
            if c["image"].split("@")[0].rsplit(":", 1)[0] == upstream:
                c["image"] = image; n += 1
                if mode == "root":
                    c.setdefault("securityContext", {}).update({"runAsNonRoot": False, "runAsUser": 0})
        if mode == "root":
            spec.setdefault("securityContext", {}).update({"runAsNonRoot": False, "runAsUser": 0})
        if n == 0:
            sys.exit(f"Deployment {deploy} has no container running {upstream}")
        print(json.dumps(d)); break
else:
    sys.exit(f"no Deployment {deploy} in the rendering")
' "$deploy" "$(image_upstream "$name")" "$image" "$mode"
}

review() { # UID OBJECT-JSON
    jq -n --arg uid "$1" --argjson obj "$2" '{apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
      request: {uid: $uid, kind: {group: "apps", version: "v1", kind: "Deployment"},
        resource: {group: "apps", version: "v1", resource: "deployments"},
        namespace: $obj.metadata.namespace, name: $obj.metadata.name, operation: "CREATE",
        userInfo: {username: "pipeline", groups: ["system:authenticated"]}, object: $obj, dryRun: false}}'
}

# --- tampering ---------------------------------------------------------------------------------

copy_image() { # SRC-REF DEST-REF
    # shellcheck disable=SC2046 # flags are words or nothing
    skopeo copy --quiet --preserve-digests $(skopeo_src_flags) $(skopeo_dest_flags) "docker://$1" "docker://$2"
}

registry_digest() {
    # shellcheck disable=SC2046
    echo "sha256:$(skopeo inspect --raw $(skopeo_tls_flags) "docker://$1" | sha256sum | cut -d' ' -f1)"
}

# variant NAME DEST-REF MODE: the built image changed and pushed to DEST-REF; prints the new
# digest. MODE root: config USER 0:0; any other MODE: one more file, /etc/MODE.txt, so that each
# tampered image has a digest of its own (the webhook caches verdicts by digest: a copy of the
# signed digest under another repository would be answered from the cache).
variant() {
    local name="$1" dest="$2" mode="$3" ctr
    # From the registry (the pushed, verified image): buildah names an image taken from an OCI
    # layout after its path, and a path with a dot-folder (.work) is not a valid image name.
    bah rm "tamper-$mode-$name" >/dev/null 2>&1 || true
    # shellcheck disable=SC2046 # flags are words or nothing
    ctr="$(bah from --quiet $(skopeo_tls_flags) --name "tamper-$mode-$name" "docker://$(pushed_ref "$name")")"
    if [[ $mode == root ]]; then
        bah config --user 0:0 "$ctr"
    else
        printf '%s: not what the pipeline built\n' "$mode" >"$ADMIT/$mode.txt"
        bah copy "$ctr" "$ADMIT/$mode.txt" "/etc/$mode.txt" >/dev/null
    fi
    bah commit --quiet --rm --timestamp "$(source_date_epoch)" --omit-history --identity-label=false \
        "$ctr" "localhost/portcullis-pipeline/tampered-$mode:$name" >/dev/null
    # shellcheck disable=SC2046 # flags are words or nothing
    bah push --quiet $(skopeo_tls_flags) "localhost/portcullis-pipeline/tampered-$mode:$name" "docker://$dest" ||
        die "pushing the tampered image to $dest failed"
    registry_digest "$dest"
}

# --- replay ------------------------------------------------------------------------------------

ROWS=()
FAILURES=0

# run_case LABEL EXPECT(allow|deny) DEPLOYMENT-JSON [EXPECTED-PIN]
run_case() {
    local label="$1" expect="$2" obj="$3" pin="${4:-}" i=$((${#ROWS[@]} + 1)) allowed detail ok=yes ms start
    review "pipeline-$i" "$obj" >"$ADMIT/reviews/$i.json"
    local -a curl_args=(-fsS --cacert "$ADMIT/ca.crt" --resolve "portcullis.portcullis-system.svc:$PORT:127.0.0.1"
        -H 'Content-Type: application/json' --data-binary "@$ADMIT/reviews/$i.json")
    curl "${curl_args[@]}" "https://portcullis.portcullis-system.svc:$PORT/mutate?timeout=10s" >"$ADMIT/reviews/$i.mutate.json"
    start=$(date +%s%N)
    curl "${curl_args[@]}" "https://portcullis.portcullis-system.svc:$PORT/validate?timeout=10s" >"$ADMIT/reviews/$i.validate.json"
    ms=$((($(date +%s%N) - start) / 1000000))
    allowed="$(jq -r '.response.allowed' "$ADMIT/reviews/$i.validate.json")"
    if [[ $allowed == true ]]; then
        # The image after /mutate: the patched value, or the reference as sent when it needed no pin.
        detail="$(jq -r '.response.patch // empty | @base64d | fromjson | map(select(.path | test("image$"))) | .[0].value // empty' \
            "$ADMIT/reviews/$i.mutate.json")"
        [[ -n $detail ]] || detail="$(jq -r '.spec.template.spec.containers[0].image' <<<"$obj")"
        if [[ $detail != *@sha256:* ]]; then
            ok=no
            detail="not pinned: $detail"
        elif [[ -n $pin && $detail != *"@$pin" ]]; then
            ok=no
            detail="pinned to the wrong digest: $detail (want $pin)"
        else
            detail="pinned: $detail"
        fi
    else
        detail="$(jq -r '.response.status.message' "$ADMIT/reviews/$i.validate.json")"
        local more
        more=$(($(wc -l <<<"$detail") - 1))
        detail="$(head -n 1 <<<"$detail")"
        [[ $more -eq 0 ]] || detail="$detail (+$more more)"
    fi
    [[ ($expect == allow && $allowed == true) || ($expect == deny && $allowed == false) ]] || ok=no
    [[ $ok == yes ]] || FAILURES=$((FAILURES + 1))
    ROWS+=("$(printf '%-34s %-6s %-7s %-3s %5sms  %s' "$label" "$expect" "$allowed" "$ok" "$ms" "$detail")")
}

# A pipeline gate on its own (not the webhook): GATE EXPECT(pass|fail) COMMAND...
run_gate() {
    local label="$1" expect="$2" got detail ok=yes
    shift 2
    if detail="$("$@" 2>&1)"; then got=pass; else got=fail; fi
    detail="$(grep -v '^$' <<<"$detail" | tail -n 1)"
    detail="${detail#*: error: }"
    [[ $got == "$expect" ]] || { ok=no; FAILURES=$((FAILURES + 1)); }
    ROWS+=("$(printf '%-34s %-6s %-7s %-3s %7s  %s' "$label" "$expect" "$got" "$ok" "-" "$detail")")
}

main() {
    local -a images
    if [[ $# -gt 0 ]]; then images=("$@"); else mapfile -t images < <(pipeline_images); fi
    [[ -f $PIPELINE_PUB ]] || die "no public key at $PIPELINE_PUB"
    ensure_pipeline_key
    rm -rf "$ADMIT" && mkdir -p "$ADMIT/reviews"
    local first="${images[0]}" repo
    repo="$(jq -r .source.repository "$(image_out "$first")/build.json")"
    write_policies "$repo"
    webhook_tls "$ADMIT" DNS:portcullis.portcullis-system.svc

    PORT="$(free_port)"
    local admin
    admin="$(free_port)"
    # --cache-tag-ttl 0s: the replay re-pushes a tag seconds after admitting it. With the default
    # 30 s the webhook would still resolve it to the verified digest and pin that (safe: the pod
    # runs the signed image); here the re-pushed content itself must be judged.
    local bin
    bin="$(portcullis_bin)"
    "$bin" serve --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$admin" \
        --tls-cert "$ADMIT/tls.crt" --tls-key "$ADMIT/tls.key" --policy "$ADMIT/policies" \
        --allow-http-registry "${PIPELINE_REGISTRY%%/*}" \
        --cache-tag-ttl 0s >"$ADMIT/serve.log" 2>&1 &
    PIDS+=($!)
    local _
    for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$admin/readyz" 2>/dev/null && break; sleep 0.2; done
    curl -fsS -o /dev/null "http://127.0.0.1:$admin/readyz" || die "portcullis serve did not become ready, see $ADMIT/serve.log"
    log "portcullis serve on https://127.0.0.1:$PORT with $(cd "$ADMIT/policies" && echo *.yaml)"

    local name ref version sha digest
    for name in "${images[@]}"; do
        ref="$(image_ref "$name")"
        version="$(image_tags "$name" | head -n 1)"
        run_case "$name:$version as built" allow "$(deployment "$name" "$ref:$version")" "$(image_digest "$name")"
    done

    # Tampering, on the first image.
    name="$first"
    ref="$(image_ref "$name")"
    version="$(image_tags "$name" | head -n 1)"
    sha="$(image_tags "$name" | grep '^sha-' | head -n 1)"
    digest="$(image_digest "$name")"
    local reg="$PIPELINE_REGISTRY" flags
    flags="$(portcullis_registry_flags)"

    local unsigned_digest forked_digest
    unsigned_digest="$(variant "$name" "$reg/unsigned/$name:$version" unsigned)"
    run_case "unsigned image" deny "$(deployment "$name" "$reg/unsigned/$name:$version")"

    forked_digest="$(variant "$name" "$reg/forked/$name:$version" forked)"
    jq '.buildDefinition.externalParameters.workflow.repository = "https://github.com/attacker/portcullis-fork"
        | .buildDefinition.externalParameters.source.repository = "https://github.com/attacker/portcullis-fork"
        | .buildDefinition.resolvedDependencies[0].uri = "git+https://github.com/attacker/portcullis-fork@refs/heads/main"' \
        "$(image_out "$name")/provenance.json" >"$ADMIT/forked-provenance.json"
    # shellcheck disable=SC2086 # flags are words or nothing
    portcullis sign --key "$PIPELINE_KEY" $flags "$reg/forked/$name@$forked_digest" 2>/dev/null
    # shellcheck disable=SC2086
    portcullis attest --key "$PIPELINE_KEY" $flags --type slsaprovenance1 \
        --predicate "$ADMIT/forked-provenance.json" "$reg/forked/$name@$forked_digest" 2>/dev/null
    run_case "provenance from another repo" deny "$(deployment "$name" "$reg/forked/$name:$version")"

    local root_digest
    root_digest="$(variant "$name" "$reg/root-build/$name:$version" root)"
    # shellcheck disable=SC2086
    portcullis sign --key "$PIPELINE_KEY" $flags "$reg/root-build/$name@$root_digest" 2>/dev/null
    # shellcheck disable=SC2086
    portcullis attest --key "$PIPELINE_KEY" $flags --type slsaprovenance1 \
        --predicate "$(image_out "$name")/provenance.json" "$reg/root-build/$name@$root_digest" 2>/dev/null
    run_case "build as root (uid 0)" deny "$(deployment "$name" "$reg/root-build/$name:$version" root)"
    run_gate "verify stage: root build" fail check_nonroot "$reg/root-build/$name@$root_digest"

    local tampered
    tampered="$(variant "$name" "$ref:$sha" repushed)"
    run_case "tag re-pushed after signing" deny "$(deployment "$name" "$ref:$sha")"
    run_case "promoted tag@digest after re-push" allow "$(deployment "$name" "$ref:$sha@$digest")" "$digest"
    run_gate "verify stage after re-push" fail "$PORTCULLIS_ROOT/pipelines/stages/verify.sh" "$name"
    log "tampered digests: unsigned $unsigned_digest, forked $forked_digest, root $root_digest," \
        "re-pushed $ref:$sha -> $tampered (the signed digest is $digest)"

    printf '\n%-34s %-6s %-7s %-3s %7s  %s\n' CASE WANT GOT OK TIME "REASON / PATCH"
    printf '%s\n' "----------------------------------------------------------------------------------------------------------------"
    printf '%s\n' "${ROWS[@]}"
    printf '\n'
    log "reviews and responses in ${ADMIT#"$PORTCULLIS_ROOT"/}/reviews; server log ${ADMIT#"$PORTCULLIS_ROOT"/}/serve.log"
    [[ $FAILURES -eq 0 ]] || die "$FAILURES case(s) did not get the expected decision"
}

main "$@"
