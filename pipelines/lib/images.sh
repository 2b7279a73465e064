# shellcheck shell=bash disable=SC2034 # its variables are used by the scripts that source it
# pipelines/lib/images.sh: what the image pipeline's stages share (pipelines/stages/*.sh).
#
# Source it after lib/common.sh; it only defines variables and functions:
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib/images.sh"
#
# The pipeline is build -> sbom -> scan -> push -> sign -> attest -> verify -> promote. Each stage
# is a script that reads what the stages before it wrote under $PIPELINE_OUT/<image>/ and adds its
# own files there, so any stage can be re-run alone. The same scripts run on a developer's machine
# (loopback registry, locally built base images, a throwaway key) and in GitHub Actions (GHCR,
# the official base images, keyless cosign beside the key). Environment (all optional locally):
#
#   PIPELINE_IMAGES          images to build (default: "jobs-api jobs-worker portcullis", every
#                            image deploy/ runs)
#   PIPELINE_REGISTRY        where images are pushed: "127.0.0.1:5000/portcullis-dev" or
#                            "ghcr.io/portcullis-dev" (required from the push stage on)
#   PIPELINE_INSECURE        1: the registry speaks plain HTTP (default: 1 for 127.0.0.1/localhost)
#   PIPELINE_STORAGE_DRIVER  buildah storage driver (default: overlay when root can mount it on
#                            the store's filesystem, else vfs, which copies the whole root file
#                            system for every layer and container: several GB more per run)
#   RUST_IMAGE, RUNTIME_IMAGE  base images (default: the local ones built by stages/bases.sh)
#   SOURCE_DATE_EPOCH        build timestamp (default: the commit time of HEAD)
#   PIPELINE_KEY, PIPELINE_PUB  signing key pair (default: a throwaway pair under .work)
#   PIPELINE_BUNDLE_FORMAT   how key-based signatures and attestations are stored: new (default,
#                            cosign 3's Sigstore bundles as OCI referrers) or classic (cosign's
#                            .sig/.att tags, for consumers still on cosign 2)
#   PORTCULLIS_PASSWORD      the signing key's password
#   PORTCULLIS_BIN           the portcullis binary (default: target/debug/portcullis)
#   PIPELINE_WORK            all state: store, bases, outputs (default: .work/pipeline)

PIPELINE_WORK="${PIPELINE_WORK:-$PORTCULLIS_WORK/pipeline}"
PIPELINE_OUT="$PIPELINE_WORK/out"
PIPELINE_TOOLS="$PORTCULLIS_WORK/tools"
PIPELINE_VENV="$PIPELINE_TOOLS/venv-images"
TRIVY="$PIPELINE_VENV/bin/trivy"
CARGO_CYCLONEDX="$PIPELINE_TOOLS/bin/cargo-cyclonedx"
# The real cosign: the pinned one from bootstrap.sh, else one on PATH (sigstore/cosign-installer).
COSIGN_BIN="${COSIGN_BIN:-$PIPELINE_TOOLS/bin/cosign}"
[[ -x $COSIGN_BIN ]] || COSIGN_BIN="$(command -v cosign || echo "$COSIGN_BIN")"
# cosign 3, which reads both formats: the pinned one from bootstrap.sh.
COSIGN3_BIN="${COSIGN3_BIN:-$PIPELINE_TOOLS/bin/cosign3}"
PIPELINE_BUNDLE_FORMAT="${PIPELINE_BUNDLE_FORMAT:-new}"
case $PIPELINE_BUNDLE_FORMAT in
new | classic) ;;
*) die "PIPELINE_BUNDLE_FORMAT=$PIPELINE_BUNDLE_FORMAT: say new or classic" ;;
esac
# Names of the locally built base images (stages/bases.sh) in the private buildah store.
LOCAL_RUST_IMAGE="localhost/portcullis-base/rust:bookworm"
LOCAL_RUNTIME_IMAGE="localhost/portcullis-base/static:nonroot"

# default_storage_driver: overlay if root can mount an overlay file system where the store lives
# (one trial mount, undone at once), vfs otherwise.
default_storage_driver() {
    local probe="$PIPELINE_WORK/containers/overlay-probe" driver=vfs
    as_root rm -rf "$probe"
    mkdir -p "$PIPELINE_WORK/containers" && as_root mkdir -p "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
    if as_root mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
        "$probe/merged" 2>/dev/null; then
        as_root umount "$probe/merged"
        driver=overlay
    fi
    as_root rm -rf "$probe"
    echo "$driver"
}

# ensure_storage_driver: sets and exports PIPELINE_STORAGE_DRIVER when the caller did not. Call it
# outside command substitutions, so the probe runs once per pipeline.
ensure_storage_driver() {
    if [[ -z ${PIPELINE_STORAGE_DRIVER:-} ]]; then
        PIPELINE_STORAGE_DRIVER="$(default_storage_driver)"
        export PIPELINE_STORAGE_DRIVER
    fi
}
export PIPELINE_WORK PIPELINE_OUT

# --- images -------------------------------------------------------------------------------------

# image_dockerfile NAME: the Dockerfile (relative to the repository root) that builds NAME.
image_dockerfile() {
    case "$1" in
    portcullis) echo webhook/Dockerfile ;;
    jobs-api) echo workloads/api/Dockerfile ;;
    jobs-worker) echo workloads/worker/Dockerfile ;;
    *) die "unknown image $1 (known: portcullis jobs-api jobs-worker)" ;;
    esac
}

# image_package NAME: the Cargo package whose binary the image ships (for the SBOM).
image_package() {
    case "$1" in
    portcullis) echo portcullis-webhook ;;
    jobs-api | jobs-worker) echo "$1" ;;
    *) die "unknown image $1" ;;
    esac
}

# image_upstream NAME: the image name the manifests under deploy/ use.
image_upstream() { echo "ghcr.io/portcullis-dev/$1"; }

# image_deployment NAME: "<overlay folder under deploy/overlays/ENV> <Deployment name>".
image_deployment() {
    case "$1" in
    portcullis) echo "webhook portcullis" ;;
    jobs-api | jobs-worker) echo "workloads $1" ;;
    *) die "unknown image $1" ;;
    esac
}

# PIPELINE_IMAGES's default: every image deploy/ runs (the two sample services and the webhook).
ALL_IMAGES="jobs-api jobs-worker portcullis"

# pipeline_images: the images this run builds, one per line.
pipeline_images() { tr ' ' '\n' <<<"${PIPELINE_IMAGES:-$ALL_IMAGES}" | sed '/^$/d'; }

# image_ref NAME: the repository NAME is pushed to ("$PIPELINE_REGISTRY/NAME").
image_ref() {
    [[ -n ${PIPELINE_REGISTRY:-} ]] || die "PIPELINE_REGISTRY is not set (e.g. 127.0.0.1:5000/portcullis-dev)"
    echo "$PIPELINE_REGISTRY/$1"
}

# image_out NAME: the folder holding everything the stages know about NAME.
image_out() { echo "$PIPELINE_OUT/$1"; }

# image_digest NAME: the built image's manifest digest (sha256:...), from the build stage.
image_digest() {
    local f
    f="$(image_out "$1")/digest"
    [[ -s $f ]] || die "$1 has not been built: no $f (run pipelines/stages/build.sh first)"
    cat "$f"
}

# image_tags NAME: the tags pushed for NAME, one per line (from the build stage).
image_tags() { jq -r '.tags[]' "$(image_out "$1")/build.json"; }

# pushed_ref NAME: "<registry>/<image>@sha256:..." as the push stage wrote it.
pushed_ref() {
    local f
    f="$(image_out "$1")/pushed"
    [[ -s $f ]] || die "$1 has not been pushed: no $f (run pipelines/stages/push.sh first)"
    cat "$f"
}

# --- keys ---------------------------------------------------------------------------------------

# The signing key pair. Locally a throwaway pair (password "pipeline") is made on first use; in CI
# PIPELINE_KEY/PIPELINE_PUB point at files written from secrets and PORTCULLIS_PASSWORD is set.
PIPELINE_KEY="${PIPELINE_KEY:-$PIPELINE_WORK/keys/pipeline.key}"
PIPELINE_PUB="${PIPELINE_PUB:-${PIPELINE_KEY%.key}.pub}"
export PIPELINE_KEY PIPELINE_PUB

ensure_pipeline_key() {
    local throwaway="$PIPELINE_WORK/keys/pipeline.key"
    if [[ $PIPELINE_KEY == "$throwaway" ]]; then
        [[ ${CI:-} != true || ${PIPELINE_THROWAWAY_KEY:-0} == 1 ]] ||
            die "CI=true and no PIPELINE_KEY: refusing to sign with a throwaway key (PIPELINE_THROWAWAY_KEY=1 allows it)"
        export PORTCULLIS_PASSWORD="${PORTCULLIS_PASSWORD:-pipeline}"
        if [[ ! -f $PIPELINE_KEY || ! -f $PIPELINE_PUB ]]; then
            mkdir -p "$(dirname "$PIPELINE_KEY")"
            portcullis keygen --output-key-prefix "${PIPELINE_KEY%.key}" >/dev/null 2>&1 ||
                die "portcullis keygen failed"
            log "made a throwaway signing key pair: ${PIPELINE_KEY#"$PORTCULLIS_ROOT"/} (.pub beside it)"
        fi
    fi
    [[ -f $PIPELINE_KEY && -f $PIPELINE_PUB ]] || die "signing key $PIPELINE_KEY (or $PIPELINE_PUB) not found"
}

# --- registry -----------------------------------------------------------------------------------

pipeline_insecure() {
    local host="${PIPELINE_REGISTRY%%/*}"
    if [[ -n ${PIPELINE_INSECURE:-} ]]; then
        [[ $PIPELINE_INSECURE == 1 ]]
    else
        [[ $host == 127.0.0.1:* || $host == localhost:* || $host == localhost ]]
    fi
}

# Flags for portcullis, cosign and skopeo that let them talk plain HTTP to a loopback registry.
portcullis_registry_flags() { if pipeline_insecure; then echo --allow-http-registry; fi; }
cosign_registry_flags() { if pipeline_insecure; then echo --allow-insecure-registry --allow-http-registry; fi; }
skopeo_dest_flags() { if pipeline_insecure; then echo --dest-tls-verify=false; fi; }
skopeo_src_flags() { if pipeline_insecure; then echo --src-tls-verify=false; fi; }
skopeo_tls_flags() { if pipeline_insecure; then echo --tls-verify=false; fi; }

# check_nonroot REF: the image config's User is set and is not root (0, 0:*, root, root:*).
# Prints what it found; fails with the reason.
check_nonroot() {
    local user
    # shellcheck disable=SC2046 # flags are words or nothing
    user="$(skopeo inspect --config $(skopeo_tls_flags) "docker://$1" | jq -r '.config.User // ""')" ||
        die "cannot read the image config of $1"
    case "$user" in
    "" | 0 | 0:* | root | root:*)
        echo "image config USER is '${user:-<unset, root>}': the image runs as root; set USER 65532:65532 in the Dockerfile"
        return 1
        ;;
    esac
    echo "image config USER $user"
}

# --- tools --------------------------------------------------------------------------------------

# bah ARGS...: buildah with the pipeline's private store (never /var/lib/containers), as root
# (through sudo on GitHub's runners; chroot isolation needs it).
bah() {
    ensure_storage_driver
    local store="$PIPELINE_WORK/containers/$PIPELINE_STORAGE_DRIVER"
    as_root buildah --root "$store/root" --runroot "$store/runroot" --storage-driver "$PIPELINE_STORAGE_DRIVER" "$@"
}

# own PATH...: give files buildah wrote as root back to the calling user (no-op as root).
own() {
    [[ ${EUID:-$(id -u)} -ne 0 ]] || return 0
    as_root chown -R "$(id -u):$(id -g)" "$@"
}

# portcullis_bin: the CLI's path (PORTCULLIS_BIN, else the workspace's debug build). Start
# background processes with it, not with the function below: `portcullis serve &` would make $!
# the PID of a subshell, and stopping that leaves the server running.
portcullis_bin() {
    local bin="${PORTCULLIS_BIN:-$PORTCULLIS_ROOT/target/debug/portcullis}"
    [[ -x $bin ]] || die "no portcullis binary at $bin (cargo build -p portcullis-webhook, or set PORTCULLIS_BIN)"
    echo "$bin"
}

# portcullis ARGS...: runs the CLI in the foreground.
portcullis() {
    local bin
    bin="$(portcullis_bin)"
    "$bin" "$@"
}

need_tool() {
    [[ -x $1 ]] || die "$1 is missing: run pipelines/bootstrap-images.sh"
}

# --- source facts -------------------------------------------------------------------------------

# The repository URL recorded in provenance: GitHub's when running there, else the workspace's
# `repository` (Cargo.toml), which is the project's canonical URL.
source_repository() {
    if [[ -n ${GITHUB_SERVER_URL:-} && -n ${GITHUB_REPOSITORY:-} ]]; then
        echo "$GITHUB_SERVER_URL/$GITHUB_REPOSITORY"
    else
        sed -n 's/^repository *= *"\(.*\)"/\1/p' "$PORTCULLIS_ROOT/Cargo.toml" | head -n 1
    fi
}

workspace_version() {
    sed -n '/^\[workspace.package\]/,/^\[/{s/^version *= *"\(.*\)"/\1/p}' "$PORTCULLIS_ROOT/Cargo.toml" | head -n 1
}

# SOURCE_DATE_EPOCH, defaulting to the commit time of HEAD (the same for every build of a commit).
source_date_epoch() {
    if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
        echo "$SOURCE_DATE_EPOCH"
    else
        git -C "$PORTCULLIS_ROOT" log -1 --format=%ct HEAD
    fi
}

# --- timing -------------------------------------------------------------------------------------

now_s() { date +%s.%N; }
# record_time STAGE START: appends "stage<TAB>seconds" to $PIPELINE_OUT/timings.tsv.
record_time() {
    mkdir -p "$PIPELINE_OUT"
    awk -v s="$2" -v e="$(now_s)" -v n="$1" 'BEGIN { printf "%s\t%.1f\n", n, e - s }' >>"$PIPELINE_OUT/timings.tsv"
}
