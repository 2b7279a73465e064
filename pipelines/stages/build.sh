#!/usr/bin/env bash
# Stage 1, build: each image from its Dockerfile with buildah, into an OCI layout under
# $PIPELINE_OUT/<image>/oci whose manifest digest is the image's identity from here on (the push
# stage preserves it). Usage: build.sh [IMAGE...] (default: pipeline_images).
#
# - Source: a snapshot of the working tree (tracked + untracked, not ignored: what `git status`
#   sees) taken once per run into $PIPELINE_OUT/context, so every build of the run sees the same
#   files while others keep editing. $PIPELINE_OUT/source.json records the commit, whether the
#   tree was dirty and a digest of the snapshot.
# - Reproducible: SOURCE_DATE_EPOCH (default: the commit time) goes to `buildah bud --timestamp`
#   (image created time and every file's mtime in new layers), --omit-history and
#   --identity-label=false drop what differs between runs, and the layers are compressed by the
#   same code each time. PIPELINE_REPRO=first|all|none (default first) builds the first (or every)
#   image a second time from scratch, prints both digests and fails if they differ.
# - Bases: from $PIPELINE_OUT/bases.env (stages/bases.sh), passed as RUST_IMAGE/RUNTIME_IMAGE.
# - Network: the RUN steps use the host's network (crates.io).
# - Caches: two bind mounts are shared by every build of a run (and by later runs on the same
#   machine): the Cargo registry (downloads) and the Cargo target directory, so third-party crates
#   compile once, as a BuildKit cache mount would make them. Each build still compiles the
#   workspace crates it ships (the Dockerfiles touch every .rs file before the real build), so the
#   reproducibility rebuild recompiles our code and re-assembles every layer. PIPELINE_REPRO_FRESH=1
#   gives the rebuild an empty target directory instead: a from-scratch check (minutes more on
#   2 cores).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/images.sh"

CONTEXT="$PIPELINE_OUT/context"
PIPELINE_REPRO="${PIPELINE_REPRO:-first}"

# --- source snapshot -------------------------------------------------------------------------------

snapshot_source() {
    if [[ -f $PIPELINE_OUT/source.json && -d $CONTEXT ]]; then
        return
    fi
    rm -rf "$CONTEXT" && mkdir -p "$CONTEXT"
    # Files git would commit with `git add -A`: tracked ones still present, plus untracked ones
    # that are not ignored. target/ and .work/ are ignored, so they never enter the context.
    (cd "$PORTCULLIS_ROOT" && git ls-files -z --cached --others --exclude-standard --deduplicate) |
        (cd "$PORTCULLIS_ROOT" && python3 -c '
import os, sys
paths = [p for p in sys.stdin.buffer.read().split(b"\0") if p and os.path.lexists(p)]
sys.stdout.buffer.write(b"\0".join(paths) + b"\0")') |
        tar -C "$PORTCULLIS_ROOT" --null -T - -cf - | tar -C "$CONTEXT" -xf -
    local commit dirty context_digest ref
    commit="$(git -C "$PORTCULLIS_ROOT" rev-parse HEAD)"
    dirty=false
    [[ -z "$(git -C "$PORTCULLIS_ROOT" status --porcelain)" ]] || dirty=true
    context_digest="sha256:$(cd "$CONTEXT" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
    ref="${GITHUB_REF:-refs/heads/$(git -C "$PORTCULLIS_ROOT" rev-parse --abbrev-ref HEAD)}"
    jq -n --arg repo "$(source_repository)" --arg commit "$commit" --arg ref "$ref" \
        --argjson dirty "$dirty" --arg ctx "$context_digest" --arg sde "$(source_date_epoch)" \
        --argjson files "$(find "$CONTEXT" -type f | wc -l)" \
        '{repository: $repo, commit: $commit, ref: $ref, dirty: $dirty, contextDigest: $ctx,
          contextFiles: $files, sourceDateEpoch: ($sde | tonumber)}' >"$PIPELINE_OUT/source.json"
    if [[ $dirty == true ]]; then
        warn "the working tree has uncommitted changes: images are built from them, and provenance says so (dirty: true)"
    fi
    log "source: $(jq -r '"\(.repository) \(.commit[:12]) \(.ref) dirty=\(.dirty) \(.contextFiles) files \(.contextDigest[:19])"' "$PIPELINE_OUT/source.json")"
}

# --- tags ------------------------------------------------------------------------------------------

# Release tags: vX.Y.Z git tags give X.Y.Z; local runs use the workspace version (what the dev
# overlays deploy); CI builds of branches get only sha-<short>. Every build gets sha-<short>
# (with -dirty when built from uncommitted changes).
image_tag_list() {
    local short version=""
    short="sha-$(jq -r '.commit[:7]' "$PIPELINE_OUT/source.json")"
    [[ "$(jq -r .dirty "$PIPELINE_OUT/source.json")" == false ]] || short="$short-dirty"
    if [[ ${GITHUB_REF_TYPE:-} == tag && ${GITHUB_REF_NAME:-} =~ ^v([0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?)$ ]]; then
        version="${BASH_REMATCH[1]}"
    elif [[ ${CI:-} != true ]]; then
        version="$(workspace_version)"
    fi
    [[ -z $version ]] || echo "$version"
    echo "$short"
}

# --- build -----------------------------------------------------------------------------------------

# build_one NAME SUFFIX: builds NAME into the store as localhost/portcullis-pipeline/NAME:SUFFIX
# and exports it to $PIPELINE_OUT/NAME/oci-SUFFIX; prints the manifest digest.
build_one() {
    local name="$1" suffix="$2" out dockerfile sde created commit repo local_ref pull=()
    out="$(image_out "$name")"
    dockerfile="$(image_dockerfile "$name")"
    [[ -f $CONTEXT/$dockerfile ]] || die "$dockerfile does not exist (yet): cannot build $name"
    sde="$(jq -r .sourceDateEpoch "$PIPELINE_OUT/source.json")"
    created="$(date -u -d "@$sde" +%Y-%m-%dT%H:%M:%SZ)"
    commit="$(jq -r .commit "$PIPELINE_OUT/source.json")"
    repo="$(jq -r .repository "$PIPELINE_OUT/source.json")"
    local_ref="localhost/portcullis-pipeline/$name:$suffix"
    # Local bases live only in the store; registry bases are pulled (by digest) when missing.
    if [[ $BASE_SOURCE == local ]]; then pull=(--pull-never); else pull=(--pull); fi
    local target="$PIPELINE_WORK/cargo-target"
    if [[ $suffix == rebuild && ${PIPELINE_REPRO_FRESH:-0} == 1 ]]; then
        target="$PIPELINE_WORK/cargo-target-fresh"
        rm -rf "$target"
    fi
    mkdir -p "$out" "$PIPELINE_WORK/cargo-registry" "$target"
    bah rmi -f "$local_ref" >/dev/null 2>&1 || true
    bah bud --isolation chroot --network host "${pull[@]}" --layers=false --no-cache \
        --timestamp "$sde" --omit-history --identity-label=false \
        --volume "$PIPELINE_WORK/cargo-registry:/usr/local/cargo/registry" \
        --volume "$target:/src/target" \
        -f "$CONTEXT/$dockerfile" \
        --build-arg "RUST_IMAGE=$BASE_RUST_IMAGE" --build-arg "RUNTIME_IMAGE=$BASE_RUNTIME_IMAGE" \
        --build-arg "SOURCE=$repo" --build-arg "REVISION=$commit" --build-arg "CREATED=$created" \
        --label "org.opencontainers.image.version=$(head -n 1 <<<"$TAGS")" \
        -t "$local_ref" "$CONTEXT" >"$out/build-$suffix.log" 2>&1 ||
        { tail -n 40 "$out/build-$suffix.log" >&2; die "buildah bud failed for $name, see $out/build-$suffix.log"; }
    rm -rf "$out/oci-$suffix"
    bah push --quiet --digestfile "$out/digest-$suffix" "$local_ref" "oci:$out/oci-$suffix:$(head -n 1 <<<"$TAGS")" ||
        die "exporting $local_ref to an OCI layout failed"
    own "$out/oci-$suffix" "$out/digest-$suffix"
    cat "$out/digest-$suffix"
}

# explain_difference NAME: which part of two non-identical builds differs (config or a layer).
explain_difference() {
    local out a b
    out="$(image_out "$1")"
    a="$(jq -c '[.config.digest, (.layers[].digest)]' "$out/oci-build/blobs/sha256/$(cut -d: -f2 <"$out/digest-build")")"
    b="$(jq -c '[.config.digest, (.layers[].digest)]' "$out/oci-rebuild/blobs/sha256/$(cut -d: -f2 <"$out/digest-rebuild")")"
    warn "build 1 config+layers: $a"
    warn "build 2 config+layers: $b"
}

main() {
    command -v buildah >/dev/null || die "buildah is missing: run pipelines/bootstrap-images.sh"
    [[ -f $PIPELINE_OUT/bases.env ]] || die "no $PIPELINE_OUT/bases.env: run pipelines/stages/bases.sh first"
    # shellcheck source=/dev/null
    . "$PIPELINE_OUT/bases.env"
    ensure_storage_driver
    snapshot_source
    local -a images
    if [[ $# -gt 0 ]]; then images=("$@"); else mapfile -t images < <(pipeline_images); fi
    local name first=1 digest digest2 start finish out t0
    for name in "${images[@]}"; do
        out="$(image_out "$name")"
        rm -rf "$out" && mkdir -p "$out"
        TAGS="$(image_tag_list)"
        start="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        log "building $name from $(image_dockerfile "$name") (tags: $(paste -sd' ' <<<"$TAGS"))"
        t0=$SECONDS
        digest="$(build_one "$name" build)"
        finish="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        log "$name: built $digest in $((SECONDS - t0)) s"
        digest2=""
        if [[ $PIPELINE_REPRO == all || ($PIPELINE_REPRO == first && $first == 1) ]]; then
            log "$name: rebuilding (our crates recompiled, every layer re-made) to check the build is reproducible"
            t0=$SECONDS
            digest2="$(build_one "$name" rebuild)"
            log "$name: rebuilt in $((SECONDS - t0)) s"
            log "$name: build 1 $digest"
            log "$name: build 2 $digest2"
            if [[ $digest == "$digest2" ]]; then
                log "$name: reproducible: both builds have the same digest"
            else
                explain_difference "$name"
                die "$name is not reproducible: two builds of the same source gave different digests"
            fi
            rm -rf "$out/oci-rebuild" "$PIPELINE_WORK/cargo-target-fresh"
        fi
        first=0
        mv "$out/oci-build" "$out/oci"
        printf '%s\n' "$digest" >"$out/digest"
        jq -n --arg name "$name" --arg dockerfile "$(image_dockerfile "$name")" --arg digest "$digest" \
            --arg rebuild "$digest2" --arg tags "$TAGS" --arg start "$start" --arg finish "$finish" \
            --arg rust "$BASE_RUST_IMAGE" --arg rustd "$BASE_RUST_DIGEST" \
            --arg runtime "$BASE_RUNTIME_IMAGE" --arg runtimed "$BASE_RUNTIME_DIGEST" --arg basesrc "$BASE_SOURCE" \
            --arg buildah "$(buildah --version | awk '{ print $3 }')" --arg driver "$PIPELINE_STORAGE_DRIVER" \
            --slurpfile source "$PIPELINE_OUT/source.json" '{
              name: $name, dockerfile: $dockerfile, digest: $digest,
              rebuildDigest: (if $rebuild == "" then null else $rebuild end),
              tags: ($tags | split("\n") | map(select(. != ""))),
              startedOn: $start, finishedOn: $finish, source: $source[0],
              buildArgs: {RUST_IMAGE: $rust, RUNTIME_IMAGE: $runtime, SOURCE: $source[0].repository,
                          REVISION: $source[0].commit,
                          CREATED: ($source[0].sourceDateEpoch | todate)},
              bases: [{arg: "RUST_IMAGE", ref: $rust, digest: $rustd, origin: $basesrc},
                      {arg: "RUNTIME_IMAGE", ref: $runtime, digest: $runtimed, origin: $basesrc}],
              builder: {tool: "buildah", version: $buildah, storageDriver: $driver, isolation: "chroot",
                        flags: ["--timestamp", "--omit-history", "--identity-label=false", "--network=host"]}
            }' >"$out/build.json"
    done
}

main "$@"
