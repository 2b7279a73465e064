#!/usr/bin/env bash
# make pipeline: the CI signing stage end to end on one machine.
#
#   bases -> build -> sbom -> scan -> push -> sign -> attest -> verify -> promote -> manifests
#     -> rehearse
#
# Each stage is a script in pipelines/stages/ (release.yml runs the same ones against GHCR). Here:
# a loopback registry (Debian docker-registry) on a free port, a throwaway signing key, locally
# built base images, promotion into a scratch copy of deploy/, the manifests artifact, and the
# admission rehearsal (stages/rehearse.sh): the release signing rehearsed with a test Sigstore,
# tampering cases, and what deploy/ renders admitted through `portcullis serve` the way the API
# server would. Prints each stage's wall time.
#
# Environment: PIPELINE_IMAGES (default: jobs-api jobs-worker portcullis), PIPELINE_REPRO=
# first|all|none (default first: rebuild the first image and compare digests), SOURCE_DATE_EPOCH
# (default: commit time), PIPELINE_PROMOTE_ENV (default stage), PIPELINE_FROM=STAGE (start at
# STAGE on the previous run's outputs, e.g. `push` to replay the chain after a change to signing
# or admission without rebuilding the images).
# Everything started is stopped on exit, by PID.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/images.sh"

STAGES="$PORTCULLIS_ROOT/pipelines/stages"
trap stop_pids EXIT

start_registry() {
    local dir="$PIPELINE_WORK/registry" port
    rm -rf "$dir" && mkdir -p "$dir/data"
    port="$(free_port)"
    registry_config "$dir/registry.yml" "$dir/data" "127.0.0.1:$port"
    docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
    PIDS+=($!)
    local _
    for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null && break; sleep 0.2; done
    curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" || die "the registry did not start, see $dir/registry.log"
    export PIPELINE_REGISTRY="127.0.0.1:$port/portcullis-dev"
    log "registry on 127.0.0.1:$port (data in ${dir#"$PORTCULLIS_ROOT"/}/data)"
}

# stage NAME COMMAND...: runs one stage, records its wall time, stops the pipeline if it fails.
stage() {
    local name="$1" start
    shift
    if [[ -n $FROM ]]; then
        [[ $name == "$FROM" ]] || { log "skipping $name (PIPELINE_FROM=$FROM)"; return; }
        FROM=""
    fi
    printf '\n==> %s\n' "$name"
    start="$(now_s)"
    "$@" || { record_time "$name (failed)" "$start"; summary; die "stage $name failed"; }
    record_time "$name" "$start"
}

# need_disk: stop before the image stages, with the reason, when the store's file system cannot
# hold them. A first run adds ~2 GB under .work/pipeline with the overlay store, ~4.5 GB with
# vfs (the run's last lines say how much; the margin is for a disk that others share). Without
# this check, buildah's own "no space left on device" comes minutes later and names a layer file.
need_disk() {
    local want=3072 have
    [[ $PIPELINE_STORAGE_DRIVER == overlay ]] || want=5120
    have="$(df -Pm "$PIPELINE_WORK" | awk 'NR == 2 { print $4 }')"
    ((have >= want)) || die "only $have MiB free under ${PIPELINE_WORK#"$PORTCULLIS_ROOT"/}; building the" \
        "images needs about $want MiB with the $PIPELINE_STORAGE_DRIVER store. Free some space (make clean" \
        "removes target/ and .work/) or set PIPELINE_WORK to a larger file system"
}

# work_size_mib: what .work/pipeline holds now, in MiB (the store is root's: du as root).
work_size_mib() { as_root du -sxm "$PIPELINE_WORK" | cut -f1; }

summary() {
    printf '\n%-22s %9s\n' STAGE SECONDS
    printf '%s\n' "--------------------------------"
    awk -F'\t' '{ printf "%-22s %9s\n", $1, $2; t += $2 } END { printf "%-22s %9.1f\n", "total", t }' \
        "$PIPELINE_OUT/timings.tsv"
}

main() {
    local -a images
    mapfile -t images < <(pipeline_images)
    export PIPELINE_IMAGES="${images[*]}"
    export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(source_date_epoch)}"
    export PIPELINE_THROWAWAY_KEY=1
    log "images: ${images[*]}; SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH ($(date -u -d "@$SOURCE_DATE_EPOCH" +%FT%TZ))"

    FROM="${PIPELINE_FROM:-}"
    if [[ -z $FROM ]]; then
        rm -rf "$PIPELINE_OUT" && mkdir -p "$PIPELINE_OUT"
    else
        [[ -f $PIPELINE_OUT/source.json ]] || die "PIPELINE_FROM=$FROM needs a previous run's outputs in $PIPELINE_OUT"
        rm -f "$PIPELINE_OUT/timings.tsv"
    fi
    local start
    start="$(now_s)"
    "$PORTCULLIS_ROOT/pipelines/bootstrap-images.sh"
    log "building the portcullis CLI, the admission rehearsal and the test Sigstore signer"
    cargo build -q -p portcullis-webhook -p portcullis-rehearsal --bins --example sigstore_sign
    start_registry
    ensure_storage_driver
    log "buildah store: ${PIPELINE_WORK#"$PORTCULLIS_ROOT"/}/containers/$PIPELINE_STORAGE_DRIVER"
    [[ -n $FROM && $FROM != bases && $FROM != build ]] || need_disk
    local work_mib
    work_mib="$(work_size_mib)"
    record_time "setup" "$start"

    stage bases "$STAGES/bases.sh"
    stage build "$STAGES/build.sh"
    stage sbom "$STAGES/sbom.sh"
    stage scan "$STAGES/scan.sh"
    stage push "$STAGES/push.sh"
    stage sign "$STAGES/sign.sh"
    stage attest "$STAGES/attest.sh"
    stage verify "$STAGES/verify.sh"
    stage promote "$STAGES/promote.sh" --env "${PIPELINE_PROMOTE_ENV:-stage}"
    stage manifests "$STAGES/manifests.sh"
    stage rehearse "$STAGES/rehearse.sh"
    summary
    log "disk: .work/pipeline grew by $(($(work_size_mib) - work_mib)) MiB this run ($PIPELINE_STORAGE_DRIVER store)"
    log "artifacts (OCI layouts, SBOMs, scans, provenance, reviews) in ${PIPELINE_OUT#"$PORTCULLIS_ROOT"/}"
}

main "$@"
