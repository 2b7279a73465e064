#!/usr/bin/env bash
# pipelines/package.sh: the CLI release (`make package`). Builds portcullis in release mode for
# every Linux target this machine's toolchain can build and writes to .work/dist/ (PACKAGE_OUT):
#
#   portcullis-VERSION-TARGET.tar.gz  one folder portcullis-VERSION-TARGET/ holding portcullis,
#                                     LICENSE and README.md
#   portcullis-VERSION.cdx.json       CycloneDX SBOM of the CLI: the crates linked into it, made
#                                     like the image pipeline's (lib/cargo-sbom.sh)
#   SHA256SUMS                        sha256sum lines over the files above
#
# VERSION is the workspace's (Cargo.toml). The release workflow signs SHA256SUMS and each archive
# keyless and uploads them (pipelines/publish-release.sh); docs/releases.md says how to verify.
#
# Usage:
#   pipelines/package.sh               build and pack
#   pipelines/package.sh --targets     the targets it would build, and why it skips the others
#   pipelines/package.sh --verify DIR  check a release folder with pipelines/py/release_check.py:
#                                      sums, archive layout, `portcullis version --json` of each
#                                      binary this host can run, the SBOM; a PASS/FAIL/SKIP line
#                                      per check, non-zero when one failed
#   pipelines/package.sh --test        what `make test` runs, without a release build: packs the
#                                      already-built debug binary (PACKAGE_BIN, default
#                                      target/debug/portcullis) into .work/test/package/dist,
#                                      verifies it, and checks that a tampered copy is refused
#
# Environment:
#   PACKAGE_BIN=FILE      pack this already-built binary instead of building; its target is the
#                         one its `version --json` reports, and its version must be the workspace's
#   PACKAGE_OUT=DIR       where to write (default .work/dist): the files of an earlier run there
#                         are replaced; a folder holding anything else is refused
#   PACKAGE_TARGETS="T…"  the targets to try (default: x86_64 and aarch64, gnu and musl Linux)
#   SOURCE_DATE_EPOCH     the archives' mtime and the SBOM's timestamp (default: the commit time
#                         of HEAD, which webhook/build.rs also takes as the build date)
#
# Targets: one is built when the toolchain has its standard library (rustlib/TARGET/lib) and a C
# compiler for it is on PATH (aws-lc-sys and ring compile C): `cc` for the host, else
# ARCH-linux-gnu-gcc, or musl-gcc / ARCH-linux-musl-gcc. Nothing is installed or downloaded: a
# target that cannot be built is skipped, and the output says why. glibc targets link statically
# (+crt-static, as the images do), so each binary runs on any Linux of its architecture. The
# build is reproducible for the same toolchain and lockfile: the date comes from the commit, not
# the clock, and --remap-path-prefix keeps the checkout's and Cargo home's paths out of it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/images.sh"
# shellcheck source-path=SCRIPTDIR source=lib/cargo-sbom.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/cargo-sbom.sh"

CANDIDATES=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
OUT="${PACKAGE_OUT:-$PORTCULLIS_WORK/dist}"
WORK=""  # a fresh folder under .work per run (package)
CHECK="$PORTCULLIS_ROOT/pipelines/py/release_check.py"

host_target() { rustc -vV | sed -n 's/^host: //p'; }

# c_compiler TARGET: the C compiler that builds TARGET's C code (may not be installed).
c_compiler() {
    local t="$1" arch="${1%%-*}" host
    host="$(host_target)"
    if [[ $t == "$host" ]]; then
        echo cc
    elif [[ $t == *-linux-musl && $arch == "${host%%-*}" ]] && command -v musl-gcc >/dev/null; then
        echo musl-gcc
    elif [[ $t == *-linux-musl ]]; then
        echo "$arch-linux-musl-gcc"
    elif [[ $t == *-linux-gnu ]]; then
        echo "$arch-linux-gnu-gcc"
    fi
}

# why_not TARGET: nothing when TARGET can be built here, else why not.
why_not() {
    local t="$1" sysroot cc
    sysroot="$(rustc --print sysroot)"
    if ! compgen -G "$sysroot/lib/rustlib/$t/lib/libstd-*.rlib" >/dev/null; then
        echo "the toolchain has no standard library for it (no $sysroot/lib/rustlib/$t; \`rustup target add $t\` would download it, which this script does not do)"
        return
    fi
    cc="$(c_compiler "$t")"
    if [[ -z $cc ]]; then
        echo "not a Linux gnu or musl target"
    elif ! command -v "$cc" >/dev/null; then
        echo "no C compiler for it on PATH ($cc; aws-lc-sys and ring compile C)"
    fi
}

# plan: sets BUILD (targets to build) and SKIPPED ("target: why" lines).
plan() {
    local -a candidates
    read -r -a candidates <<<"${PACKAGE_TARGETS:-${CANDIDATES[*]}}"
    BUILD=() SKIPPED=()
    local t why
    for t in "${candidates[@]}"; do
        why="$(why_not "$t")"
        if [[ -z $why ]]; then BUILD+=("$t"); else SKIPPED+=("$t: $why"); fi
    done
}

# print_plan VERB: "targets VERB: …", then one line per skipped target with the reason.
print_plan() {
    local line
    log "targets $1: ${BUILD[*]:-none}"
    for line in "${SKIPPED[@]}"; do log "target skipped: $line"; done
}

target_dir() { cargo metadata --format-version 1 --no-deps --locked | jq -r .target_directory; }

# build_target TARGET: cargo build --release for TARGET; prints the binary's path.
build_target() {
    local t="$1" cc flags var
    cc="$(c_compiler "$t")"
    # Encoded (one flag per \x1f-separated field) so paths with spaces stay whole; the caller's
    # RUSTFLAGS come first.
    local -a f=()
    [[ -z ${RUSTFLAGS:-} ]] || read -r -a f <<<"$RUSTFLAGS"
    [[ $t != *-gnu ]] || f+=(-C target-feature=+crt-static)
    f+=("--remap-path-prefix=$PORTCULLIS_ROOT=/build/portcullis"
        "--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/build/cargo")
    flags="$(IFS=$'\x1f'; echo "${f[*]}")"
    local -a env=("CARGO_ENCODED_RUSTFLAGS=$flags")
    if [[ $t != "$(host_target)" ]]; then
        var="$(tr 'a-z-' 'A-Z_' <<<"$t")"
        env+=("CC_${t//-/_}=$cc" "CARGO_TARGET_${var}_LINKER=$cc")
    fi
    log "building $t: cargo build --release --locked -p portcullis-webhook --target $t" >&2
    env "${env[@]}" cargo build --release --locked -p portcullis-webhook --target "$t" >&2 ||
        die "cargo build for $t failed"
    echo "$(target_dir)/$t/release/portcullis"
}

# given_binary FILE: checks PACKAGE_BIN and prints its target.
given_binary() {
    local bin="$1" version="$2" info v t commit head
    [[ -f $bin && -x $bin ]] || die "PACKAGE_BIN=$bin is not an executable file"
    info="$("$bin" version --json)" ||
        die "PACKAGE_BIN=$bin did not run \`version --json\` (a portcullis built before the version subcommand?)"
    v="$(jq -r .version <<<"$info")" t="$(jq -r .target <<<"$info")" commit="$(jq -r .commit <<<"$info")"
    [[ $v == "$version" ]] || die "PACKAGE_BIN=$bin reports version $v, the workspace is $version: rebuild it"
    [[ $t == *-linux-* ]] || die "PACKAGE_BIN=$bin reports target '$t', not a Linux target"
    head="$(git -C "$PORTCULLIS_ROOT" rev-parse HEAD 2>/dev/null || true)"
    if [[ -n $head && $commit != "$head" ]]; then
        warn "PACKAGE_BIN=$bin was built from commit $commit, the tree is at $head: the SBOM describes the tree"
    fi
    echo "$t"
}

# release_epoch: SOURCE_DATE_EPOCH, else the commit time of HEAD.
release_epoch() {
    local sde
    sde="$(source_date_epoch 2>/dev/null || true)"
    [[ $sde =~ ^[0-9]+$ ]] ||
        die "no SOURCE_DATE_EPOCH and no git commit to take it from: set SOURCE_DATE_EPOCH (seconds since 1970)"
    echo "$sde"
}

# prepare_out: OUT exists and holds nothing but an earlier run's files, which are removed.
prepare_out() {
    mkdir -p "$OUT"
    local f
    local -a stray=()
    for f in "$OUT"/* "$OUT"/.[!.]*; do
        [[ -e $f ]] || continue
        case "${f##*/}" in
        portcullis-*.tar.gz | portcullis-*.cdx.json | SHA256SUMS | *.sigstore.json) ;;
        *) stray+=("${f##*/}") ;;
        esac
    done
    [[ ${#stray[@]} -eq 0 ]] ||
        die "$OUT holds files this script did not write (${stray[*]}): choose another PACKAGE_OUT or move them"
    rm -f "$OUT"/portcullis-*.tar.gz "$OUT"/portcullis-*.cdx.json "$OUT"/SHA256SUMS "$OUT"/*.sigstore.json
}

# pack BINARY TARGET VERSION EPOCH: the deterministic archive (sorted names, one mtime, owner 0,
# fixed modes, gzip without name or time).
pack() {
    local bin="$1" t="$2" version="$3" sde="$4" name stage
    name="portcullis-$version-$t"
    stage="$WORK/stage-$t"
    rm -rf "$stage" && mkdir -p "$stage/$name"
    compgen -G "$PORTCULLIS_ROOT/LICENSE*" >/dev/null || die "no LICENSE file at the repository root to ship"
    install -m 0755 "$bin" "$stage/$name/portcullis"
    install -m 0644 "$PORTCULLIS_ROOT"/LICENSE* "$PORTCULLIS_ROOT/README.md" "$stage/$name/"
    chmod 0755 "$stage/$name"
    tar -C "$stage" --sort=name --format=gnu --owner=0 --group=0 --numeric-owner --mtime="@$sde" \
        -cf - "$name" | gzip -n -9 >"$WORK/out/$name.tar.gz" || die "packing $name failed"
    rm -rf "$stage"
    log "$name.tar.gz: $(du -h "$WORK/out/$name.tar.gz" | cut -f1)"
}

# sbom VERSION EPOCH TARGET...: the CLI's SBOM, one per target merged into one (components and
# dependencies united; each target named in metadata.properties).
sbom() {
    local version="$1" sde="$2" t src="$WORK/sbom-src" f
    shift 2
    rm -rf "$src"
    copy_workspace "$src"
    local -a parts=()
    for t in "$@"; do
        SOURCE_DATE_EPOCH="$sde" cargo_cyclonedx_binaries "$src" "$t"
        f="$src/webhook/portcullis_bin.cdx.json"
        [[ -f $f ]] || die "cargo cyclonedx wrote no SBOM for the portcullis binary (looked for $f)"
        mv "$f" "$WORK/sbom-$t.json"
        parts+=("$WORK/sbom-$t.json")
    done
    jq -s '.[0] + {
          metadata: (.[0].metadata + {properties: ([.[].metadata.properties[]?] | unique)}),
          components: ([.[].components[]] | unique_by(."bom-ref")),
          dependencies: ([.[].dependencies[]?] | group_by(.ref)
                         | map({ref: .[0].ref, dependsOn: ([.[].dependsOn[]?] | unique)}))}' \
        "${parts[@]}" >"$WORK/out/portcullis-$version.cdx.json" || die "merging the SBOMs failed"
    rm -rf "$src" "${parts[@]}"
    log "portcullis-$version.cdx.json: $(jq '.components | length' "$WORK/out/portcullis-$version.cdx.json") components" \
        "(CycloneDX $(jq -r .specVersion "$WORK/out/portcullis-$version.cdx.json"), for ${*})"
}

package() {
    local version sde t bin head
    version="$(workspace_version)"
    sde="$(release_epoch)"
    head="$(git -C "$PORTCULLIS_ROOT" rev-parse HEAD 2>/dev/null || true)"
    "$PORTCULLIS_ROOT/pipelines/bootstrap-images.sh" cargo-cyclonedx
    command -v jq >/dev/null || die "jq is missing (apt-get install jq)"
    mkdir -p "$PORTCULLIS_WORK"
    WORK="$(mktemp -d "$PORTCULLIS_WORK/package.XXXXXX")"
    trap 'rm -rf "$WORK"' EXIT
    mkdir -p "$WORK/out"
    local -a built=() bins=()
    if [[ -n ${PACKAGE_BIN:-} ]]; then
        t="$(given_binary "$PACKAGE_BIN" "$version")"
        log "packing PACKAGE_BIN=$PACKAGE_BIN as it is ($t): no build"
        built=("$t") bins=("$PACKAGE_BIN")
    else
        plan
        print_plan "to build"
        [[ ${#BUILD[@]} -gt 0 ]] || die "no target can be built here"
        for t in "${BUILD[@]}"; do
            bin="$(build_target "$t")"
            built+=("$t") bins+=("$bin")
        done
    fi
    # The binary took its commit from HEAD when its build script ran, the archives' date from
    # HEAD at the start: a commit in between would ship a binary and archives that disagree.
    if [[ -n $head && "$(git -C "$PORTCULLIS_ROOT" rev-parse HEAD)" != "$head" ]]; then
        die "HEAD moved from $head during the build: run make package again"
    fi
    local i
    for i in "${!built[@]}"; do
        pack "${bins[$i]}" "${built[$i]}" "$version" "$sde"
    done
    sbom "$version" "$sde" "${built[@]}"
    (cd "$WORK/out" && LC_ALL=C sha256sum -- * | LC_ALL=C sort -k 2 >SHA256SUMS)
    prepare_out
    mv "$WORK/out"/* "$OUT/"
    log "wrote ${OUT#"$PORTCULLIS_ROOT"/}: $(cd "$OUT" && printf '%s ' *)"
    if [[ -z ${PACKAGE_BIN:-} ]]; then print_plan built; fi
}

verify() {
    local dir="$1"
    [[ -d $dir ]] || die "--verify $dir: not a folder"
    python3 "$CHECK" "$dir" --version "$(workspace_version)"
}

# indent PREFIX: stdin with PREFIX before each line (so nested PASS/FAIL lines are not counted).
indent() { sed "s/^/$1/"; }

# The make test part: PASS/FAIL lines prefixed package/ (pipelines/test.sh counts them).
self_test() {
    local bin="${PACKAGE_BIN:-$PORTCULLIS_ROOT/target/debug/portcullis}" dir="$PORTCULLIS_WORK/test/package"
    local rc=0 archive out
    if [[ ! -x $bin ]]; then
        echo "FAIL package/pack: no binary $bin to pack (cargo build first)"
        return 1
    fi
    rm -rf "$dir" && mkdir -p "$dir"
    log "packing the already-built $bin (PACKAGE_BIN; make test does no release build) into ${dir#"$PORTCULLIS_ROOT"/}/dist"
    if ! PACKAGE_BIN="$bin" PACKAGE_OUT="$dir/dist" "$PORTCULLIS_ROOT/pipelines/package.sh" >"$dir/package.log" 2>&1; then
        indent "  | " <"$dir/package.log"
        echo "FAIL package/pack: pipelines/package.sh with PACKAGE_BIN=$bin failed"
        return 1
    fi
    indent "  | " <"$dir/package.log"
    echo "PASS package/pack"
    verify "$dir/dist" || rc=1

    # A copy with one byte of the archive flipped must be refused, naming the archive.
    cp -a "$dir/dist" "$dir/tampered"
    local -a archives=("$dir"/tampered/*.tar.gz)
    archive="${archives[0]##*/}"
    python3 - "$dir/tampered/$archive" <<'EOF'
import sys
from pathlib import Path
p = Path(sys.argv[1])
data = bytearray(p.read_bytes())
data[len(data) // 2] ^= 0x01
p.write_bytes(bytes(data))
EOF
    if out="$(verify "$dir/tampered")"; then
        echo "FAIL package/tampered-archive-refused: the check accepted $archive with a flipped byte"
        rc=1
    elif grep -q "^FAIL package/sha256sums: $archive: sha256 " <<<"$out"; then
        indent "  | tampered: " <<<"$out"
        echo "PASS package/tampered-archive-refused"
    else
        indent "  | tampered: " <<<"$out"
        echo "FAIL package/tampered-archive-refused: refused, but not for the sha256 of $archive"
        rc=1
    fi
    return "$rc"
}

main() {
    cd "$PORTCULLIS_ROOT"
    case "${1:-}" in
    "") package ;;
    --targets)
        plan
        print_plan "to build"
        ;;
    --verify)
        [[ $# -eq 2 ]] || die "usage: pipelines/package.sh --verify DIR"
        verify "$2"
        ;;
    --test) self_test ;;
    *) die "unknown argument $1 (none, --targets, --verify DIR or --test)" ;;
    esac
}

main "$@"
