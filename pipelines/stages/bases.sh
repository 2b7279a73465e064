#!/usr/bin/env bash
# Stage 0, bases: the two base images every Dockerfile takes as build arguments, resolved to
# digests, written to $PIPELINE_OUT/bases.env for the build stage.
#
# - RUST_IMAGE/RUNTIME_IMAGE given (GitHub Actions: rust:1.95-bookworm and
#   gcr.io/distroless/static-debian12:nonroot): each tag is resolved to its digest with skopeo and
#   the build uses `name@sha256:...`, so provenance records exactly what was built from.
# - Otherwise (no Docker Hub here) both are built locally, once, into the pipeline's buildah store:
#     builder  Debian bookworm from mmdebstrap (gcc, libc6-dev, make, ca-certificates) plus this
#              machine's Rust toolchain (rustc + cargo + std, copied from `rustc --print sysroot`),
#              CARGO_HOME=/usr/local/cargo like the official image. It trusts this machine's CA
#              bundle, because crates.io is reached through the host's TLS-inspecting egress.
#     runtime  FROM scratch: /etc/passwd and /etc/group with nonroot (65532), nsswitch.conf,
#              Debian's CA bundle (not the host's), /tmp (1777), /home/nonroot; USER 65532:65532.
#   A stamp of the inputs (package list, rustc -vV, CA bundle) decides whether to rebuild.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/images.sh"

BASES="$PIPELINE_WORK/bases"
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BUILDER_PACKAGES=gcc,g++,libc6-dev,make,ca-certificates
# Base images are stamped 1970-01-01 like distroless: their content, not the day they were made,
# decides their digest.
BASE_EPOCH=0

# --- external bases (GitHub Actions) ---------------------------------------------------------------

# pin REF: prints NAME@sha256:... for REF (its registry digest: an index digest for multi-arch
# images). The tag is dropped: containers/image refuses references with both a tag and a digest.
pin() {
    local ref="$1" name digest
    if [[ $ref == *@sha256:* ]]; then
        echo "$ref"
        return
    fi
    name="$ref"
    [[ ${name##*/} != *:* ]] || name="${name%:*}"
    digest="$(skopeo inspect --raw "docker://$ref" | sha256sum | cut -d' ' -f1)" ||
        die "cannot resolve $ref to a digest"
    echo "$name@sha256:$digest"
}

external_bases() {
    local rust runtime
    rust="$(pin "$RUST_IMAGE")"
    runtime="$(pin "$RUNTIME_IMAGE")"
    write_env "$rust" "${rust##*@}" "$runtime" "${runtime##*@}" registry
}

# --- local bases ----------------------------------------------------------------------------------

rootfs() {
    local tar="$BASES/rootfs-$DEBIAN_SUITE.tar" want="$DEBIAN_SUITE $BUILDER_PACKAGES $DEBIAN_MIRROR"
    if [[ -f $tar && -s $tar && -f $tar.stamp && "$(<"$tar.stamp")" == "$want" ]]; then
        return
    fi
    log "mmdebstrap $DEBIAN_SUITE with $BUILDER_PACKAGES (once, ~3 min)"
    # --format=tar: mmdebstrap picks the format from the file name otherwise, and "*.new" is
    # not a name it knows (it would write a directory).
    rm -rf "$tar" "$tar.new"
    SOURCE_DATE_EPOCH=$BASE_EPOCH mmdebstrap --quiet --variant=apt --format=tar --include="$BUILDER_PACKAGES" \
        "$DEBIAN_SUITE" "$tar.new" "$DEBIAN_MIRROR" >"$BASES/mmdebstrap.log" 2>&1 ||
        die "mmdebstrap failed, see $BASES/mmdebstrap.log"
    mv -f "$tar.new" "$tar"
    printf '%s\n' "$want" >"$tar.stamp"
}

local_digest() { bah inspect --type image --format '{{.FromImageDigest}}' "$1"; }

image_present_with_stamp() { # IMAGE STAMP
    local have
    have="$(bah inspect --type image --format '{{index .ImageAnnotations "dev.portcullis.base.inputs"}}' "$1" 2>/dev/null)" ||
        return 1
    [[ $have == "$2" ]]
}

build_builder() {
    local sysroot rustc_v stamp ctr tc="$BASES/toolchain"
    sysroot="$(rustc --print sysroot)"
    rustc_v="$(rustc -V | awk '{ print $2 }')"
    stamp="$(printf '%s\n' "$DEBIAN_SUITE $BUILDER_PACKAGES" "$(rustc -vV)" "$(sha256sum /etc/ssl/certs/ca-certificates.crt)" |
        sha256sum | cut -c1-16)"
    if image_present_with_stamp "$LOCAL_RUST_IMAGE" "$stamp"; then
        present builder "$LOCAL_RUST_IMAGE (rustc $rustc_v)"
        return
    fi
    rootfs
    log "builder image: $DEBIAN_SUITE rootfs + rustc/cargo $rustc_v from $sysroot"
    rm -rf "$tc" && mkdir -p "$tc/bin" "$tc/lib"
    cp -a "$sysroot/bin/rustc" "$sysroot/bin/cargo" "$tc/bin/"
    # lib/: librustc_driver, LLVM and lib/rustlib (the standard library for the host target).
    cp -a "$sysroot/lib/." "$tc/lib/"
    ctr="$(bah from scratch)"
    bah add "$ctr" "$BASES/rootfs-$DEBIAN_SUITE.tar" / >/dev/null
    bah copy "$ctr" "$tc/" /usr/local/ >/dev/null
    bah copy "$ctr" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt >/dev/null
    bah config --env CARGO_HOME=/usr/local/cargo \
        --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env RUST_VERSION="$rustc_v" --workingdir / --cmd bash \
        --annotation "dev.portcullis.base.inputs=$stamp" \
        --label "org.opencontainers.image.title=portcullis local Rust builder" \
        --label "org.opencontainers.image.version=$rustc_v" "$ctr"
    bah commit --quiet --timestamp "$BASE_EPOCH" --omit-history --identity-label=false --rm \
        "$ctr" "$LOCAL_RUST_IMAGE" >/dev/null
    rm -rf "$tc"
    installed builder "$LOCAL_RUST_IMAGE (rustc $rustc_v)"
}

build_runtime() {
    local root="$BASES/runtime-root" stamp ctr
    rootfs
    rm -rf "$root" && mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/home/nonroot"
    tar -xf "$BASES/rootfs-$DEBIAN_SUITE.tar" -O ./etc/ssl/certs/ca-certificates.crt >"$root/etc/ssl/certs/ca-certificates.crt"
    [[ -s $root/etc/ssl/certs/ca-certificates.crt ]] || die "no CA bundle in the $DEBIAN_SUITE rootfs"
    printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
        'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$root/etc/passwd"
    printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$root/etc/group"
    printf '%s\n' 'hosts: files dns' >"$root/etc/nsswitch.conf"
    chmod 1777 "$root/tmp"
    chown 65532:65532 "$root/home/nonroot"
    stamp="$(cd "$root" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
    if image_present_with_stamp "$LOCAL_RUNTIME_IMAGE" "$stamp"; then
        present runtime "$LOCAL_RUNTIME_IMAGE"
        return
    fi
    ctr="$(bah from scratch)"
    bah copy "$ctr" "$root/" / >/dev/null
    bah config --user 65532:65532 --workingdir /home/nonroot \
        --env PATH=/usr/local/bin:/usr/bin:/bin --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
        --annotation "dev.portcullis.base.inputs=$stamp" \
        --label "org.opencontainers.image.title=portcullis local static runtime (nonroot)" "$ctr"
    bah commit --quiet --timestamp "$BASE_EPOCH" --omit-history --identity-label=false --rm \
        "$ctr" "$LOCAL_RUNTIME_IMAGE" >/dev/null
    installed runtime "$LOCAL_RUNTIME_IMAGE"
}

local_bases() {
    mkdir -p "$BASES"
    build_builder
    build_runtime
    write_env "$LOCAL_RUST_IMAGE" "$(local_digest "$LOCAL_RUST_IMAGE")" \
        "$LOCAL_RUNTIME_IMAGE" "$(local_digest "$LOCAL_RUNTIME_IMAGE")" local
}

# write_env RUST_REF RUST_DIGEST RUNTIME_REF RUNTIME_DIGEST SOURCE
write_env() {
    mkdir -p "$PIPELINE_OUT"
    {
        printf 'BASE_RUST_IMAGE=%q\nBASE_RUST_DIGEST=%q\n' "$1" "$2"
        printf 'BASE_RUNTIME_IMAGE=%q\nBASE_RUNTIME_DIGEST=%q\n' "$3" "$4"
        printf 'BASE_SOURCE=%q\n' "$5"
    } >"$PIPELINE_OUT/bases.env"
    log "RUST_IMAGE    $1 ($2)"
    log "RUNTIME_IMAGE $3 ($4)"
}

main() {
    if [[ -n ${RUST_IMAGE:-} || -n ${RUNTIME_IMAGE:-} ]]; then
        [[ -n ${RUST_IMAGE:-} && -n ${RUNTIME_IMAGE:-} ]] || die "set both RUST_IMAGE and RUNTIME_IMAGE, or neither"
        external_bases
    else
        local_bases
    fi
}

main "$@"
