#!/usr/bin/env bash
# pipelines/bootstrap.sh: install what the build, linters, tests and demo need, and only what is
# missing. `pipelines/bootstrap.sh coverage` also installs what `make coverage` needs.
#
# Called by `make bootstrap` (and so by `make lint`/`make test`/`make manifests`/CI). Idempotent:
# a second run installs nothing and prints one "present" line per tool.
#
# - The Rust toolchain named in rust-toolchain.toml must be installed (rustup cannot download one
#   here); when only `stable` is, and it is that very version, the name is made to point at it.
# - Debian (bookworm) packages, system-wide through apt: see APT_PACKAGES (chromium: the tests
#   look at the HTML audit report in it); node/npm only when
#   the machine has none (a NodeSource node already brings npm, and Debian's npm conflicts).
# - cosign and, where the machine has none on PATH, kubectl: the real upstream CLIs from Debian
#   trixie's packages at a pinned version and sha256, extracted (not installed) to .work/tools.
#   cosign 3 comes the same way from Debian sid, beside it as .work/tools/bin/cosign3.
#   Tests find them through portcullis-testkit's `tool("cosign")` / `tool("cosign3")`; kubectl goes to
#   .work/tools/fallback/bin, which the Makefile appends to PATH. (pipelines/lib/trixie.sh)
# - The pinned Python tools (manifest checks, workflow linters, ruff) in .work/venv:
#   pipelines/lib/venv.sh.
# - Every crate of Cargo.lock for every platform (`cargo fetch --locked`: cargo-deny reads them
#   offline);
# - cargo-deny (make lint), cargo-fuzz (make fuzz, and its smoke in make test) and, with
#   `coverage`, cargo-tarpaulin: `cargo install --locked` at a pinned version into the user's
#   cargo home, so a fresh clone on the same machine reuses them.
# - A nightly toolchain for the fuzz targets only (the product builds with rust-toolchain.toml's):
#   the installed `nightly`, else FUZZ_NIGHTLY installed with rustup and named `nightly`.
#
# Everything else lives under .work/ in the repository (git-ignored); nothing is written to shared/.
set -euo pipefail

# --- pins -------------------------------------------------------------------------------------
# To bump a trixie tool: run the apt-get download shown in lib/trixie.sh by hand, then update
# its version and sha256 together.
COSIGN_DEB_VERSION="2.5.0-2+b5"
COSIGN_DEB_SHA256="3b6eadd27f3c4c00bfa7eab5c2397a6a15a763630c7a1d40d06ff60d24799eef"
# cosign 3 (Sigstore bundles as OCI referrers) is only in sid, and sid drops old versions as soon
# as a new one is uploaded. When the download fails: `apt-cache policy cosign` with the private sid
# config of lib/trixie.sh (in .work/tools/sid-apt) shows what sid has now; take a 3.x, put its
# version and the sha256 of its .deb here, and run the cosign 3 interop tests
# (verifier/tests/cosign3_interop.rs). Once trixie-backports or forky has a 3.x, move to it.
COSIGN3_DEB_VERSION="3.1.1-2"
COSIGN3_DEB_SHA256="d8622ebffce1d69197288fc030ff06a4c247af5507107f85c5a878870b686b23"
KUBECTL_DEB_VERSION="1.32.3+ds-2"
KUBECTL_DEB_SHA256="9825aaf4c14913027aae04af8688e580459f781c829bd5de00cc4dc2cc5a867f"
CARGO_DENY_VERSION="0.20.2"
CARGO_TARPAULIN_VERSION="0.37.5"
CARGO_FUZZ_VERSION="0.13.2"
# The nightly toolchain the fuzz targets build with (verifier/fuzz, `make fuzz`): the machine's
# `nightly` when it has one; elsewhere this dated nightly is installed and named `nightly`.
FUZZ_NIGHTLY="nightly-2026-05-15"

APT_PACKAGES=(docker-registry skopeo jq curl ca-certificates python3-venv apache2-utils postgresql-15 chromium)
# ----------------------------------------------------------------------------------------------

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/trixie.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/trixie.sh"
# shellcheck source-path=SCRIPTDIR source=lib/venv.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/venv.sh"

TOOLS_BIN="$PORTCULLIS_WORK/tools/bin"
FALLBACK_BIN="$PORTCULLIS_WORK/tools/fallback/bin"
COSIGN="$TOOLS_BIN/cosign"
COSIGN3="$TOOLS_BIN/cosign3"
KUBECTL="$FALLBACK_BIN/kubectl"

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

# The fuzz targets need a nightly (cargo-fuzz's sanitizer and coverage flags); `cargo +nightly`
# must work. Machines without one get FUZZ_NIGHTLY, made to answer to `nightly` (rustup installs a
# dated nightly under its dated name only).
ensure_nightly() {
    local version host home
    if version="$(rustc +nightly --version 2>/dev/null)"; then
        present rust-nightly "$version (fuzz targets only)"
        return 0
    fi
    log "installing Rust $FUZZ_NIGHTLY (fuzz targets only)"
    rustup toolchain install "$FUZZ_NIGHTLY" --profile minimal >&2 ||
        die "no nightly toolchain, and rustup cannot install $FUZZ_NIGHTLY: install a nightly (cargo +nightly) for make fuzz"
    host="$(rustc +stable -vV 2>/dev/null | sed -n 's/^host: //p')" || true
    home="${RUSTUP_HOME:-$HOME/.rustup}"
    [[ -n $host && -d $home/toolchains/$FUZZ_NIGHTLY-$host ]] ||
        die "$FUZZ_NIGHTLY installed, but not found under $home/toolchains"
    ln -sfn "$FUZZ_NIGHTLY-$host" "$home/toolchains/nightly-$host"
    version="$(rustc +nightly --version)" || die "cargo +nightly does not run after installing $FUZZ_NIGHTLY"
    installed rust-nightly "$version (fuzz targets only)"
}

# --- Debian trixie tools -----------------------------------------------------------------------

# The Debian version's upstream part (2.5.0 from 2.5.0-2+b5).
upstream_version() {
    local v="${1#*:}"
    printf '%s\n' "${v%-*}"
}

# Debian builds cosign without -ldflags, so `cosign version` says "GitVersion: devel": the 2.5.x
# check is on the pinned, checksummed package's version, and `cosign version` must simply run.
check_cosign_runs() {
    local out
    out="$("${1:-$COSIGN}" version 2>&1)" || return 1
    [[ $out == *GitVersion:* ]]
}

ensure_cosign() {
    [[ $COSIGN_DEB_VERSION == 2.5.* ]] || die "COSIGN_DEB_VERSION=$COSIGN_DEB_VERSION is not a cosign 2.5.x"
    local what
    what="$(upstream_version "$COSIGN_DEB_VERSION") (debian $COSIGN_DEB_VERSION, ${COSIGN#"$PORTCULLIS_ROOT"/})"
    if trixie_is_current "$COSIGN" "$COSIGN_DEB_VERSION" "$COSIGN_DEB_SHA256" && check_cosign_runs; then
        present cosign "$what"
        return 0
    fi
    install_trixie_file cosign "$COSIGN_DEB_VERSION" "$COSIGN_DEB_SHA256" usr/bin/cosign "$COSIGN"
    check_cosign_runs || die "$COSIGN does not run: $("$COSIGN" version 2>&1 | tail -n 3)"
    installed cosign "$what"
}

# cosign 3 from sid, for the interop tests with today's cosign (bundles as OCI referrers).
ensure_cosign3() {
    [[ $COSIGN3_DEB_VERSION == 3.* ]] || die "COSIGN3_DEB_VERSION=$COSIGN3_DEB_VERSION is not a cosign 3.x"
    local what
    what="$(upstream_version "$COSIGN3_DEB_VERSION") (debian sid $COSIGN3_DEB_VERSION, ${COSIGN3#"$PORTCULLIS_ROOT"/})"
    if trixie_is_current "$COSIGN3" "$COSIGN3_DEB_VERSION" "$COSIGN3_DEB_SHA256" && check_cosign_runs "$COSIGN3"; then
        present cosign3 "$what"
        return 0
    fi
    install_debian_file sid cosign "$COSIGN3_DEB_VERSION" "$COSIGN3_DEB_SHA256" usr/bin/cosign "$COSIGN3"
    check_cosign_runs "$COSIGN3" || die "$COSIGN3 does not run: $("$COSIGN3" version 2>&1 | tail -n 3)"
    installed cosign3 "$what"
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
    if trixie_is_current "$KUBECTL" "$KUBECTL_DEB_VERSION" "$KUBECTL_DEB_SHA256" && "$KUBECTL" version --client >/dev/null 2>&1; then
        present kubectl "$what"
        return 0
    fi
    install_trixie_file kubectl "$KUBECTL_DEB_VERSION" "$KUBECTL_DEB_SHA256" usr/bin/kubectl "$KUBECTL"
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
            # Only the two pinned cosigns, for the release workflow's runner, which has its own
            # toolchain and packages (and, on Ubuntu, needs Debian's archive keys for sid's lists).
            cosign)
                mkdir -p "$PORTCULLIS_WORK"
                need_apt debian-archive-keyring
                ensure_cosign
                ensure_cosign3
                return 0
                ;;
            *) die "unknown argument $arg (usage: bootstrap.sh [coverage | cosign])" ;;
        esac
    done
    mkdir -p "$PORTCULLIS_WORK"
    ensure_toolchain
    need_apt "${APT_PACKAGES[@]}"
    need_command node nodejs
    need_command npm npm
    ensure_cosign
    ensure_cosign3
    ensure_kubectl
    local venv_what="${#VENV_PINS[@]} pinned packages (${VENV#"$PORTCULLIS_ROOT"/}, pipelines/lib/venv.sh)"
    if venv_is_current; then
        present python-tools "$venv_what"
    else
        ensure_venv
        installed python-tools "$venv_what"
    fi
    need_cargo_tool cargo-deny "$CARGO_DENY_VERSION"
    # Every locked crate, for every platform: cargo-deny runs offline and reads the whole graph,
    # including crates a Linux build never downloads (kube's TLS stack on macOS and Windows).
    cargo fetch --locked --quiet || die "cargo fetch --locked failed: the crates of Cargo.lock cannot be downloaded"
    ensure_nightly
    need_cargo_tool cargo-fuzz "$CARGO_FUZZ_VERSION"
    if ((want_coverage)); then
        need_cargo_tool cargo-tarpaulin "$CARGO_TARPAULIN_VERSION"
    fi
}

main "$@"
