#!/usr/bin/env bash
# Stage 10 (local end to end), rehearse: what deploy/ renders, admitted the way the API server
# would admit it, with this run's images signed and attested the way release.yml signs them.
# Usage: rehearse.sh (after the promote stage; `make rehearsal` runs it on the last pipeline run).
#
#   1. Release signing, rehearsed: each pushed image gets a keyless signature and keyless
#      attestations (SLSA provenance, SBOM) from a private test Sigstore whose certificates name
#      release.yml on the tag v<version> of this repository, and provenance written with the facts
#      of that workflow's run (lib/provenance.sh `as_release`). The shipped policy
#      (deploy/components/release-signatures) is then judged exactly as shipped; only its trust
#      root is swapped for the test Sigstore's, the one substitution a local run cannot avoid.
#   2. Tampering, on jobs-api, each a tag of the same repository (so the policy's images match):
#      tampered-unsigned (never signed), tampered-fork (signed as the release, provenance naming
#      another repository), tampered-identity (signed by another repository's workflow),
#      tampered-root (signed honestly, config USER 0, run as uid 0), and the sha-* tag re-pushed
#      with other content after signing.
#   3. `rehearse` (webhook/rehearsal): the dev webhook overlay's Deployment started as rendered
#      (its args, env, ConfigMaps; certificates made locally), the dev workloads overlay as
#      promoted (digests written by promote.sh) replayed through the rendered webhook
#      configurations with every ReplicaSet, Job and Pod the controllers would create; the
#      tampered variants as cases; then the webhook stopped: dev (failurePolicy Ignore) admits,
#      stage (Fail) denies in the opted-in namespace, and a copy of jobs-api in a namespace that
#      has not opted in is admitted either way. Images keep their ghcr.io names: the webhook
#      reads them from the loopback registry through --registry-mirror.
#   4. Gates beside the webhook: the webhook's own rendered Deployment against its own policies
#      (`portcullis evaluate`, since the API server never sends it: portcullis-system is
#      excluded), the verify stage on the root build and after the re-push.
# Exits non-zero if any outcome is not the expected one. No API server runs here: rehearse acts
# like one (docs/rehearsal.md), it is not one.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/images.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/provenance.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/provenance.sh"

R="$PIPELINE_OUT/rehearse"
ROOT="$PIPELINE_OUT/promote-root"

# --- tampering ---------------------------------------------------------------------------------

registry_digest() {
    # shellcheck disable=SC2046 # flags are words or nothing
    echo "sha256:$(skopeo inspect --raw $(skopeo_tls_flags) "docker://$1" | sha256sum | cut -d' ' -f1)"
}

# variant NAME DEST-REF MODE: the pushed image changed and pushed to DEST-REF; prints its digest.
# MODE root: config USER 0:0; any other MODE: one more file, /etc/MODE.txt, so that each variant
# has a digest of its own (verdicts are cached by digest).
variant() {
    local name="$1" dest="$2" mode="$3" ctr
    bah rm "tamper-$mode-$name" >/dev/null 2>&1 || true
    # shellcheck disable=SC2046 # flags are words or nothing
    ctr="$(bah from --quiet $(skopeo_tls_flags) --name "tamper-$mode-$name" "docker://$(pushed_ref "$name")")"
    if [[ $mode == root ]]; then
        bah config --user 0:0 "$ctr"
    else
        printf '%s: not what the pipeline built\n' "$mode" >"$R/$mode.txt"
        bah copy "$ctr" "$R/$mode.txt" "/etc/$mode.txt" >/dev/null
    fi
    bah commit --quiet --rm --timestamp "$(source_date_epoch)" --omit-history --identity-label=false \
        "$ctr" "localhost/portcullis-pipeline/tampered-$mode:$name" >/dev/null
    # shellcheck disable=SC2046 # flags are words or nothing
    bah push --quiet $(skopeo_tls_flags) "localhost/portcullis-pipeline/tampered-$mode:$name" "docker://$dest" ||
        die "pushing the tampered image to $dest failed"
    registry_digest "$dest"
}

# --- gates -------------------------------------------------------------------------------------

GATES=()
FAILED_GATES=0

# gate LABEL EXPECT(pass|fail) COMMAND...: a check beside the webhook, in the summary table.
gate() {
    local label="$1" expect="$2" got detail ok=yes
    shift 2
    if detail="$("$@" 2>&1)"; then got=pass; else got=fail; fi
    detail="$(grep -v '^$' <<<"$detail" | tail -n 1)"
    detail="${detail#*: error: }"
    [[ $got == "$expect" ]] || { ok=no; FAILED_GATES=$((FAILED_GATES + 1)); }
    GATES+=("$(printf '%-40s %-5s %-5s %-3s %s' "$label" "$expect" "$got" "$ok" "${detail:0:150}")")
}

# --- main --------------------------------------------------------------------------------------

main() {
    [[ -d $ROOT/deploy ]] || die "no promoted deploy/ at $ROOT: run the promote stage first"
    rm -rf "$R" && mkdir -p "$R"
    ensure_pipeline_key
    local mirror="${PIPELINE_REGISTRY%%/*}" api=jobs-api identity repo version sha
    identity="$(release_identity)"
    repo="$(image_ref "$api")"
    version="$(image_tags "$api" | head -n 1)"
    sha="$(image_tags "$api" | grep '^sha-' | head -n 1)"
    log "rehearsing the release as $identity"

    # The dev overlays pinned to this run's digests, as Flux's image automation would write them.
    "$PORTCULLIS_ROOT/pipelines/stages/promote.sh" --env dev --root "$ROOT" >/dev/null

    # Release provenance for every image, then the tampered variants of jobs-api.
    local -a sign=()
    local name out
    for name in $(pipeline_images); do
        out="$(image_out "$name")"
        as_release provenance "$name" "$R/$name.provenance.json"
        sign+=(--attest "slsaprovenance1=$R/$name.provenance.json" --attest "cyclonedx=$out/sbom.cdx.json"
            "$(pushed_ref "$name")=$identity")
    done
    local unsigned fork other root repushed signed
    signed="$(image_digest "$api")"
    unsigned="$(variant "$api" "$repo:tampered-unsigned" unsigned)"
    fork="$(variant "$api" "$repo:tampered-fork" fork)"
    jq '.buildDefinition.externalParameters.workflow.repository = "https://github.com/attacker/portcullis"' \
        "$R/$api.provenance.json" >"$R/fork.provenance.json"
    other="$(variant "$api" "$repo:tampered-identity" identity)"
    root="$(variant "$api" "$repo:tampered-root" root)"
    local stranger="https://github.com/attacker/portcullis/.github/workflows/${identity#*/.github/workflows/}"
    sign+=(--attest "slsaprovenance1=$R/fork.provenance.json" "$repo@$fork=$identity"
        --attest "slsaprovenance1=$R/$api.provenance.json" "$repo@$other=$stranger"
        --attest "slsaprovenance1=$R/$api.provenance.json" "$repo@$root=$identity")
    "$PORTCULLIS_ROOT/target/debug/examples/sigstore_sign" "$R/sigstore" --runner-environment github-hosted \
        "${sign[@]}" >"$R/sigstore.log" || die "keyless signing with the test Sigstore failed, see $R/sigstore.log"
    repushed="$(variant "$api" "$repo:$sha" repushed)"
    log "signed keyless as the release: $(pipeline_images | paste -sd' '); tampered: unsigned $unsigned," \
        "fork $fork, identity $other, root $root, $sha re-pushed -> $repushed (signed: $signed)"

    # The cases: the tampered variants, and the built images pinned to their digests.
    local upstream="ghcr.io/portcullis-dev/$api"
    {
        printf 'pinned: false\ncases:\n'
        for name in jobs-api jobs-worker; do
            printf -- '- name: %s as built, pinned\n  object: Deployment/jobs/%s\n  digest: %s\n' \
                "$name" "$name" "$(image_digest "$name")"
        done
        printf -- '- name: %s\n  object: Deployment/jobs/jobs-api\n  images: {%s: "%s"}\n  expect: deny\n  reason: "%s"\n' \
            "unsigned image" "$upstream" "$upstream:tampered-unsigned" "no signature" \
            "provenance from another repository" "$upstream" "$upstream:tampered-fork" "workflow.repository" \
            "signed by another repository's workflow" "$upstream" "$upstream:tampered-identity" "attacker/portcullis" \
            "tag re-pushed after signing" "$upstream" "$upstream:$sha" "no signature"
        printf -- '- name: build as root, run as uid 0\n  object: Deployment/jobs/jobs-api\n  images: {%s: "%s"}\n' \
            "$upstream" "$upstream:tampered-root"
        printf '  patch:\n'
        printf '    - {op: replace, path: %s, value: %s}\n' \
            /spec/template/spec/securityContext/runAsNonRoot false /spec/template/spec/securityContext/runAsUser 0 \
            /spec/template/spec/containers/0/securityContext/runAsNonRoot false \
            /spec/template/spec/containers/0/securityContext/runAsUser 0
        printf '  expect: deny\n  reason: runAsNonRoot\n'
        printf -- '- name: promoted tag@digest after the re-push\n  object: Deployment/jobs/jobs-api\n'
        printf '  images: {%s: "%s"}\n  digest: %s\n' "$upstream" "$upstream:$sha@$signed" "$signed"
    } >"$R/cases.yaml"

    local overlay="$ROOT/deploy/overlays"
    kubectl kustomize "$overlay/dev/webhook" >"$R/dev-webhook.yaml"
    kubectl kustomize "$overlay/stage/webhook" >"$R/stage-webhook.yaml"
    kubectl kustomize "$overlay/dev/workloads" >"$R/dev-workloads.yaml"
    # The same Deployment in a namespace that has not opted in: never sent, so admitted whether
    # the webhook is up or down.
    elsewhere "$R/dev-workloads.yaml" >"$R/elsewhere.yaml"
    local trust="$R/sigstore/trusted_root.json" status=0
    "$PORTCULLIS_ROOT/target/debug/rehearse" --portcullis "$(portcullis_bin)" --work-dir "$R/run" \
        --webhook "dev=$R/dev-webhook.yaml" --webhook "stage=$R/stage-webhook.yaml" \
        --workloads "$R/dev-workloads.yaml" --workloads "$R/elsewhere.yaml" --cases "$R/cases.yaml" --webhook-down \
        --configmap "portcullis-system/portcullis-trusted-roots/sigstore-public.json=$trust" \
        --serve-arg "--registry-mirror ghcr.io=$mirror --allow-http-registry $mirror" \
        --serve-arg "--cache-tag-ttl 0s --shutdown-grace 0s" || status=$?

    # The webhook's own Deployment against its own policies, with the same trust and mirror.
    mkdir -p "$R/policies"
    yq_configmap "$R/dev-webhook.yaml" portcullis-policies "$R/policies"
    yq_object "$R/dev-webhook.yaml" Deployment portcullis >"$R/webhook-deployment.yaml"
    gate "webhook's own Deployment, own policies" pass "$(portcullis_bin)" evaluate --policy "$R/policies" \
        --trusted-root "sigstore-public=$trust" --registry-mirror "ghcr.io=$mirror" --allow-http-registry \
        "$R/webhook-deployment.yaml"
    gate "verify stage: build as root" fail check_nonroot "$repo@$root"
    gate "verify stage after the re-push" fail "$PORTCULLIS_ROOT/pipelines/stages/verify.sh" "$api"
    printf '\n%-40s %-5s %-5s %-3s %s\n' GATE WANT GOT OK DETAIL
    printf '%s\n' "${GATES[@]}"
    log "reviews, responses and serve logs in ${R#"$PORTCULLIS_ROOT"/}/run"
    [[ $status -eq 0 ]] || die "rehearse: an admission did not get the expected decision (exit $status)"
    [[ $FAILED_GATES -eq 0 ]] || die "$FAILED_GATES gate(s) did not give the expected result"
}

# yq_configmap FILE NAME DIR: writes each key of the rendered ConfigMap NAME-<hash> as DIR/KEY.
yq_configmap() {
    python3 - "$@" <<'PY'
import os, sys, yaml
path, name, out = sys.argv[1:4]
for d in yaml.safe_load_all(open(path)):
    if d and d.get("kind") == "ConfigMap" and d["metadata"]["name"].rsplit("-", 1)[0] == name:
        for key, value in d.get("data", {}).items():
            open(os.path.join(out, key), "w").write(value)
        break
else:
    sys.exit(f"no ConfigMap {name} in {path}")
PY
}

# elsewhere FILE: a Namespace "sandbox" without the opt-in label, and FILE's jobs-api Deployment
# moved into it.
elsewhere() {
    python3 - "$@" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "Deployment" and d["metadata"]["name"] == "jobs-api":
        d["metadata"]["namespace"] = "sandbox"
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sandbox"}}
        print(yaml.safe_dump_all([ns, d]))
        break
else:
    sys.exit("no Deployment jobs-api in " + sys.argv[1])
PY
}

# yq_object FILE KIND NAME: the rendered object as YAML.
yq_object() {
    python3 - "$@" <<'PY'
import sys, yaml
path, kind, name = sys.argv[1:4]
for d in yaml.safe_load_all(open(path)):
    if d and d.get("kind") == kind and d["metadata"]["name"] == name:
        print(yaml.safe_dump(d)); break
else:
    sys.exit(f"no {kind}/{name} in {path}")
PY
}

main "$@"
