#!/usr/bin/env bash
# pipelines/bootstrap.sh: install what the build, linters, tests and demo need, and only what is
# missing. `pipelines/bootstrap.sh coverage` also installs what `make coverage` needs.
#
# Called by `make bootstrap` (and so by `make lint`/`make test`/`make manifests`/CI). Idempotent:
# a second run installs nothing and prints one "present" line per tool.
#
# - The Rust toolchain named in rust-toolchain.toml must be installed (rustup cannot download one
#   here); when only `stable` is, and it is that very version, the name is made to point at it.
# - Debian (bookworm) packages, system-wide through apt: see APT_PACKAGES; node/npm only when
#   the machine has none (a NodeSource node already brings npm, and Debian's npm conflicts).
# - cosign and, where the machine has none on PATH, kubectl: the real upstream CLIs from Debian
#   trixie's packages at a pinned version and sha256, extracted (not installed) to .work/tools.
#   Tests find cosign through portcullis-testkit's `tool("cosign")`; kubectl goes to
#   .work/tools/fallback/bin, which the Makefile appends to PATH.
# - cargo-deny (make lint) and, with `coverage`, cargo-tarpaulin: `cargo install --locked` at a
#   pinned version into the user's cargo home, so a fresh clone on the same machine reuses them.
#
# Everything else lives under .work/ in the repository (git-ignored); nothing is written to shared/.
set -euo pipefail

# --- pins -------------------------------------------------------------------------------------
# To bump a trixie tool: run the apt-get download shown in fetch_trixie_deb by hand, then update
# its version and sha256 together.
TRIXIE_SOURCE="deb http://deb.debian.org/debian trixie main"
COSIGN_DEB_VERSION="2.5.0-2+b5"
COSIGN_DEB_SHA256="3b6eadd27f3c4c00bfa7eab5c2397a6a15a763630c7a1d40d06ff60d24799eef"
KUBECTL_DEB_VERSION="1.32.3+ds-2"
KUBECTL_DEB_SHA256="9825aaf4c14913027aae04af8688e580459f781c829bd5de00cc4dc2cc5a867f"
DEB_ARCH="amd64"
CARGO_DENY_VERSION="0.20.2"
CARGO_TARPAULIN_VERSION="0.37.5"

APT_PACKAGES=(docker-registry skopeo jq curl ca-certificates python3-venv apache2-utils postgresql-15)
# ----------------------------------------------------------------------------------------------

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

TOOLS_BIN="$PORTCULLIS_WORK/tools/bin"
FALLBACK_BIN="$PORTCULLIS_WORK/tools/fallback/bin"
COSIGN="$TOOLS_BIN/cosign"
KUBECTL="$FALLBACK_BIN/kubectl"
TRIXIE_APT="$PORTCULLIS_WORK/tools/cosign-apt"

# --- Rust toolchain ----------------------------------------------------------------------------

ensure_toolchain() {
    local want host home have
    want="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$PORTCULLIS_ROOT/rust-toolchain.toml")"
    [[ -n $want ]] || die "rust-toolchain.toml names no channel"
    command -v rustup >/dev/null || die "rustup not found: install Rust $want with its rustfmt and clippy"
    if rustup toolchain list | grep -q "^$want-"; then
        present rust "$want (rust-toolchain.toml)"
        return 0
    fi
    # rustup refuses `toolchain link` for a name that looks like a release, and cannot download
    # here: when stable is exactly the pinned release, make the release name point at it.
    have="$(rustc +stable --version 2>/dev/null | awk '{ print $2 }')" || true
    host="$(rustc +stable -vV 2>/dev/null | sed -n 's/^host: //p')" || true
    home="${RUSTUP_HOME:-$HOME/.rustup}"
    if [[ $have == "$want" && -n $host && -d $home/toolchains/stable-$host ]]; then
        ln -s "stable-$host" "$home/toolchains/$want-$host"
        installed rust "$want (the installed stable, named as rust-toolchain.toml pins it)"
        return 0
    fi
    log "installing Rust $want (rust-toolchain.toml)"
    rustup toolchain install "$want" --profile minimal --component rustfmt,clippy >&2 ||
        die "Rust $want is not installed and cannot be (stable here is ${have:-none}): install it, or bump rust-toolchain.toml"
    installed rust "$want"
}

# --- Debian trixie tools -----------------------------------------------------------------------

# fetch_trixie_deb PKG VERSION SHA256: downloads the pinned .deb into a fresh folder through a
# private apt configuration (trixie's lists and cache live in .work; the system's apt sources and
# state are untouched; APT::Sandbox::User=root because _apt cannot write there), checks it, and
# prints its path.
fetch_trixie_deb() {
    local pkg="$1" version="$2" sha256="$3" arch
    arch="$(dpkg --print-architecture)"
    [[ $arch == "$DEB_ARCH" ]] || die "the $pkg pin is for $DEB_ARCH, this machine is $arch: add a pin for it"
    mkdir -p "$TRIXIE_APT/lists/partial" "$TRIXIE_APT/cache/archives/partial"
    printf '%s\n' "$TRIXIE_SOURCE" >"$TRIXIE_APT/sources.list"
    local -a apt=(
        apt-get -q
        -o "Dir::Etc::sourcelist=$TRIXIE_APT/sources.list"
        -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$TRIXIE_APT/lists"
        -o "Dir::Cache=$TRIXIE_APT/cache"
        -o "APT::Sandbox::User=root"
    )
    local dl="$TRIXIE_APT/download-$pkg"
    rm -rf "$dl" && mkdir -p "$dl"
    log "fetching $pkg $version from: $TRIXIE_SOURCE" >&2
    "${apt[@]}" update >/dev/null || die "apt-get update of the private trixie sources failed"
    if ! (cd "$dl" && "${apt[@]}" download "$pkg:$DEB_ARCH=$version" >/dev/null); then
        die "cannot download the pinned $pkg $version from trixie (has trixie moved on? see:" \
            "apt-cache policy $pkg with the same private config); update its pins in pipelines/bootstrap.sh"
    fi
    local -a debs=("$dl/${pkg}_"*"_$DEB_ARCH.deb")
    [[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || die "expected one $pkg .deb in $dl"
    local deb="${debs[0]}" sum
    sum="$(sha256sum "$deb" | cut -d' ' -f1)"
    [[ $sum == "$sha256" ]] || die "sha256 mismatch for $(basename "$deb"): got $sum, pinned $sha256"
    [[ "$(dpkg-deb -f "$deb" Package)" == "$pkg" && "$(dpkg-deb -f "$deb" Version)" == "$version" ]] ||
        die "$(basename "$deb") is not $pkg $version"
    printf '%s\n' "$deb"
}

# install_trixie_bin PKG VERSION SHA256 DEST: extracts usr/bin/PKG from the pinned .deb to DEST
# and records the pin in DEST's stamp.
install_trixie_bin() {
    local pkg="$1" version="$2" sha256="$3" dest="$4" deb root
    deb="$(fetch_trixie_deb "$pkg" "$version" "$sha256")"
    root="$(dirname "$deb")/root"
    dpkg-deb -x "$deb" "$root"
    mkdir -p "$(dirname "$dest")"
    install -m 0755 "$root/usr/bin/$pkg" "$dest.new"
    mv -f "$dest.new" "$dest"
    rm -rf "$(dirname "$deb")"
    printf '%s %s\n' "$version" "$sha256" >"$(dirname "$dest")/.$pkg.stamp"
}

# is_current DEST VERSION SHA256: DEST is there, executable and from that pin.
is_current() {
    local dest="$1" stamp
    stamp="$(dirname "$dest")/.$(basename "$dest").stamp"
    [[ -x $dest && -f $stamp && "$(<"$stamp")" == "$2 $3" ]]
}

# The Debian version's upstream part (2.5.0 from 2.5.0-2+b5).
upstream_version() {
    local v="${1#*:}"
    printf '%s\n' "${v%-*}"
}

# Debian builds cosign without -ldflags, so `cosign version` says "GitVersion: devel": the 2.5.x
# check is on the pinned, checksummed package's version, and `cosign version` must simply run.
check_cosign_runs() {
    local out
    out="$("$COSIGN" version 2>&1)" || return 1
    [[ $out == *GitVersion:* ]]
}

ensure_cosign() {
    [[ $COSIGN_DEB_VERSION == 2.5.* ]] || die "COSIGN_DEB_VERSION=$COSIGN_DEB_VERSION is not a cosign 2.5.x"
    local what
    what="$(upstream_version "$COSIGN_DEB_VERSION") (debian $COSIGN_DEB_VERSION, ${COSIGN#"$PORTCULLIS_ROOT"/})"
    if is_current "$COSIGN" "$COSIGN_DEB_VERSION" "$COSIGN_DEB_SHA256" && check_cosign_runs; then
        present cosign "$what"
        return 0
    fi
    install_trixie_bin cosign "$COSIGN_DEB_VERSION" "$COSIGN_DEB_SHA256" "$COSIGN"
    check_cosign_runs || die "$COSIGN does not run: $("$COSIGN" version 2>&1 | tail -n 3)"
    installed cosign "$what"
}

# kubectl (with its built-in kustomize) renders deploy/ for `make manifests`. Machines that have
# one keep it; others (the Rust container image CI uses) get Debian's.
ensure_kubectl() {
    local path
    if path="$(command -v kubectl)" && [[ $path != "$KUBECTL" ]]; then
        present kubectl "$("$path" version --client 2>/dev/null | head -n 1 | awk '{ print $3 }') ($path)"
        return 0
    fi
    local what
    what="$(upstream_version "$KUBECTL_DEB_VERSION") (debian $KUBECTL_DEB_VERSION, ${KUBECTL#"$PORTCULLIS_ROOT"/})"
    if is_current "$KUBECTL" "$KUBECTL_DEB_VERSION" "$KUBECTL_DEB_SHA256" && "$KUBECTL" version --client >/dev/null 2>&1; then
        present kubectl "$what"
        return 0
    fi
    install_trixie_bin kubectl "$KUBECTL_DEB_VERSION" "$KUBECTL_DEB_SHA256" "$KUBECTL"
    "$KUBECTL" kustomize --help >/dev/null 2>&1 || die "$KUBECTL has no kustomize subcommand"
    installed kubectl "$what"
}

# need_command CMD PKG: installs the Debian package PKG when no CMD is on PATH.
need_command() {
    if command -v "$1" >/dev/null; then
        present "$1" "$(command -v "$1")"
    else
        need_apt "$2"
    fi
}

# --- cargo subcommands -------------------------------------------------------------------------

# cargo_tool_version CRATE: the first x.y.z that `CRATE --version` prints, or nothing.
cargo_tool_version() {
    "$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true
}

# need_cargo_tool CRATE VERSION: `cargo install --locked` CRATE at VERSION unless that version
# is already installed (its `CRATE --version` says so).
need_cargo_tool() {
    local crate="$1" version="$2" have
    have="$(cargo_tool_version "$crate")"
    if [[ $have == "$version" ]]; then
        present "$crate" "$version (crates.io, $(command -v "$crate"))"
        return 0
    fi
    log "building $crate $version (once per machine, a few minutes)"
    cargo install --quiet --locked --version "$version" "$crate" ||
        die "cargo install --locked --version $version $crate failed"
    have="$(cargo_tool_version "$crate")"
    [[ $have == "$version" ]] ||
        die "$crate on PATH is ${have:-missing}, not $version: is the cargo home's bin folder on PATH?"
    installed "$crate" "$version (crates.io)"
}

main() {
    local want_coverage=0 arg
    for arg in "$@"; do
        case $arg in
            coverage) want_coverage=1 ;;
            *) die "unknown argument $arg (usage: bootstrap.sh [coverage])" ;;
        esac
    done
    mkdir -p "$PORTCULLIS_WORK"
    ensure_toolchain
    need_apt "${APT_PACKAGES[@]}"
    need_command node nodejs
    need_command npm npm
    ensure_cosign
    ensure_kubectl
    need_cargo_tool cargo-deny "$CARGO_DENY_VERSION"
    if ((want_coverage)); then
        need_cargo_tool cargo-tarpaulin "$CARGO_TARPAULIN_VERSION"
    fi
}

main "$@"
