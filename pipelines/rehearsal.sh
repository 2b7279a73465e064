#!/usr/bin/env bash
# make rehearsal: an admission rehearsal driven by what deploy/ renders. Renders
# deploy/overlays/dev/{webhook,workloads} and deploy/overlays/stage/webhook with kubectl
# kustomize and runs `rehearse`, which starts `portcullis serve` exactly as the rendered
# Deployment says and acts like the API server for every rendered workload (and the ReplicaSets,
# Jobs and Pods its controllers would create), then stops the webhook and replays again: dev
# (failurePolicy Ignore) must admit, stage (Fail) must deny. No API server runs here: rehearse
# acts like one, it is not one (docs/rehearsal.md).
#
# Images: by default the rendered images are moved (a kustomization on top of the dev workloads
# overlay) to a loopback registry started here, holding tiny test images under the same names,
# signed with a throwaway key; a ClusterImagePolicy trusting that key is added to the policies
# ConfigMap, so admitted Pods must come out pinned to those digests. With --images-registry the
# images are taken from that registry instead and nothing is pushed or signed: give the policies
# and trust with --configmap (and --serve-arg for registry access).
#
# Usage: pipelines/rehearsal.sh [--images-registry HOST:PORT] [--serve-arg "ARGS"]...
#          [--configmap NAMESPACE/NAME/KEY=FILE]... [--cases FILE] [--pins required|off]
#          [-- MORE REHEARSE FLAGS]
# The same inputs as environment variables: REHEARSAL_IMAGES_REGISTRY, REHEARSAL_SERVE_ARGS
# (one string), REHEARSAL_CONFIGMAPS (comma-separated), REHEARSAL_CASES, REHEARSAL_PINS.
# Output and reviews: .work/rehearsal. Exit status: rehearse's (0 ok, 1 expectation failed,
# 2 bad input). Everything started here is stopped on exit, by PID.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

OUT="$PORTCULLIS_WORK/rehearsal"
IMAGES_REGISTRY="${REHEARSAL_IMAGES_REGISTRY:-}"
CASES="${REHEARSAL_CASES:-}"
PINS="${REHEARSAL_PINS:-}"
SERVE_ARGS=()
[[ -z ${REHEARSAL_SERVE_ARGS:-} ]] || SERVE_ARGS+=("$REHEARSAL_SERVE_ARGS")
CONFIGMAPS=()
[[ -z ${REHEARSAL_CONFIGMAPS:-} ]] || IFS=',' read -r -a CONFIGMAPS <<<"$REHEARSAL_CONFIGMAPS"
EXTRA=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --images-registry) IMAGES_REGISTRY="$2"; shift 2 ;;
    --serve-arg) SERVE_ARGS+=("$2"); shift 2 ;;
    --configmap) CONFIGMAPS+=("$2"); shift 2 ;;
    --cases) CASES="$2"; shift 2 ;;
    --pins) PINS="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
    esac
done

trap stop_pids EXIT
rm -rf "$OUT/inputs" && mkdir -p "$OUT/inputs"

log "building portcullis and rehearse"
cargo build -q -p portcullis-webhook -p portcullis-rehearsal -p portcullis-testkit --bins --example push_image
BIN="$PORTCULLIS_ROOT/target/debug/portcullis"
REHEARSE="$PORTCULLIS_ROOT/target/debug/rehearse"
PUSH="$PORTCULLIS_ROOT/target/debug/examples/push_image"

# The images the dev workloads overlay renders (repository:tag).
mapfile -t IMAGES < <(kubectl kustomize "$PORTCULLIS_ROOT/deploy/overlays/dev/workloads" |
    sed -n 's/^ *image: *//p' | sort -u)
[[ ${#IMAGES[@]} -gt 0 ]] || die "the dev workloads overlay renders no image"

if [[ -z $IMAGES_REGISTRY ]]; then
    need_apt docker-registry >/dev/null
    REG="127.0.0.1:$(free_port)"
    mkdir -p "$OUT/inputs/registry"
    cat >"$OUT/inputs/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $OUT/inputs/registry}}
http: {addr: $REG}
YML
    docker-registry serve "$OUT/inputs/registry.yml" >"$OUT/inputs/registry.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://$REG/v2/" 2>/dev/null && break; sleep 0.1; done
    curl -fsS -o /dev/null "http://$REG/v2/" || die "the loopback registry did not start, see $OUT/inputs/registry.log"
    export PORTCULLIS_PASSWORD=rehearsal
    "$BIN" keygen --output-key-prefix "$OUT/inputs/rehearsal" 2>/dev/null
    for image in "${IMAGES[@]}"; do
        path="${image#*/}" # drop the registry host
        "$PUSH" "$REG" "${path%:*}" "${image##*:}" "$image" >/dev/null
        "$BIN" sign --key "$OUT/inputs/rehearsal.key" --allow-http-registry "$REG/$path" 2>/dev/null
    done
    log "pushed and signed ${#IMAGES[@]} test images to $REG (throwaway key $OUT/inputs/rehearsal.pub)"
    {
        printf '%s\n' "# Added by pipelines/rehearsal.sh: the test images in $REG, signed with a throwaway key." \
            "apiVersion: policy.portcullis.dev/v1alpha1" "kind: ClusterImagePolicy" \
            "metadata: {name: rehearsal-images}" "spec:" "  mode: enforce" "  images: [\"$REG/**\"]" \
            "  authorities:" "    keys:" "      - name: rehearsal" "        pem: |"
        sed 's/^/          /' "$OUT/inputs/rehearsal.pub"
        printf '%s\n' "  mutateDigest: true"
    } >"$OUT/inputs/rehearsal-images.yaml"
    CONFIGMAPS+=("portcullis-system/portcullis-policies/rehearsal-images.yaml=$OUT/inputs/rehearsal-images.yaml")
    SERVE_ARGS+=("--allow-http-registry $REG")
    IMAGES_REGISTRY="$REG"
fi

# Renderings. The workloads get their images moved to IMAGES_REGISTRY by a kustomization on top
# of the dev overlay (kustomize wants the base as a relative path).
kubectl kustomize "$PORTCULLIS_ROOT/deploy/overlays/dev/webhook" >"$OUT/inputs/dev-webhook.yaml"
kubectl kustomize "$PORTCULLIS_ROOT/deploy/overlays/stage/webhook" >"$OUT/inputs/stage-webhook.yaml"
mkdir -p "$OUT/inputs/workloads"
{
    printf '%s\n' "apiVersion: kustomize.config.k8s.io/v1beta1" "kind: Kustomization" "resources:" \
        "  - ../../../../deploy/overlays/dev/workloads" "images:"
    for image in "${IMAGES[@]}"; do
        repo="${image%:*}"
        printf '  - {name: %s, newName: %s}\n' "$repo" "$IMAGES_REGISTRY/${repo#*/}"
    done
} >"$OUT/inputs/workloads/kustomization.yaml"
kubectl kustomize "$OUT/inputs/workloads" >"$OUT/inputs/dev-workloads.yaml"

ARGS=(--webhook "dev=$OUT/inputs/dev-webhook.yaml" --webhook "stage=$OUT/inputs/stage-webhook.yaml"
    --workloads "$OUT/inputs/dev-workloads.yaml" --portcullis "$BIN" --work-dir "$OUT/run"
    --webhook-down --serve-arg "--shutdown-grace 0s")
for a in "${SERVE_ARGS[@]}"; do ARGS+=(--serve-arg "$a"); done
for c in "${CONFIGMAPS[@]}"; do ARGS+=(--configmap "$c"); done
[[ -z $CASES ]] || ARGS+=(--cases "$CASES")
[[ -z $PINS ]] || ARGS+=(--pins "$PINS")
log "rehearse ${ARGS[*]} ${EXTRA[*]}"
"$REHEARSE" "${ARGS[@]}" "${EXTRA[@]}"
