#!/usr/bin/env bash
# pipelines/bootstrap.sh: install what the build, tests and demo need, and only what is missing.
#
# Called by `make bootstrap` (and so by `make lint`/`make test`/CI). Idempotent: a second run
# installs nothing and prints one "present" line per tool.
#
# - Debian (bookworm) packages, system-wide through apt: see APT_PACKAGES.
# - cosign, the real upstream CLI, taken from Debian trixie's package at a pinned version and
#   sha256, extracted (not installed) to .work/tools/bin/cosign. Tests find it there through
#   portcullis-testkit's `tool("cosign")`.
#
# All state lives under .work/ in the repository (git-ignored); nothing is written to shared/.
set -euo pipefail

# --- pins -------------------------------------------------------------------------------------
# To bump: run the apt-get download shown in install_cosign by hand, then update both lines.
COSIGN_DEB_VERSION="2.5.0-2+b5"
COSIGN_DEB_SHA256="3b6eadd27f3c4c00bfa7eab5c2397a6a15a763630c7a1d40d06ff60d24799eef"
COSIGN_DEB_ARCH="amd64"
COSIGN_DEB_SOURCE="deb http://deb.debian.org/debian trixie main"

APT_PACKAGES=(docker-registry skopeo jq curl ca-certificates python3-venv apache2-utils postgresql-15)
# ----------------------------------------------------------------------------------------------

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

TOOLS_BIN="$PORTCULLIS_WORK/tools/bin"
COSIGN="$TOOLS_BIN/cosign"
COSIGN_STAMP="$TOOLS_BIN/.cosign.stamp"
COSIGN_APT="$PORTCULLIS_WORK/tools/cosign-apt"

# The Debian version's upstream part (2.5.0 from 2.5.0-2+b5), as recorded in the stamp.
cosign_upstream_version() {
    local v="${COSIGN_DEB_VERSION#*:}"
    printf '%s\n' "${v%-*}"
}

# Debian builds cosign without -ldflags, so `cosign version` says "GitVersion: devel": the 2.5.x
# check is on the pinned, checksummed package's version, and `cosign version` must simply run.
check_cosign_runs() {
    local out
    out="$("$COSIGN" version 2>&1)" || return 1
    [[ $out == *GitVersion:* ]]
}

cosign_is_current() {
    [[ -x $COSIGN && -f $COSIGN_STAMP ]] || return 1
    [[ "$(<"$COSIGN_STAMP")" == "$COSIGN_DEB_VERSION $COSIGN_DEB_SHA256" ]] || return 1
    check_cosign_runs
}

install_cosign() {
    [[ $COSIGN_DEB_VERSION == 2.5.* ]] || die "COSIGN_DEB_VERSION=$COSIGN_DEB_VERSION is not a cosign 2.5.x"
    local arch
    arch="$(dpkg --print-architecture)"
    [[ $arch == "$COSIGN_DEB_ARCH" ]] ||
        die "cosign pin is for $COSIGN_DEB_ARCH, this machine is $arch: add a pin for it"

    # A private apt configuration: trixie's lists and cache live in .work, the system's apt
    # sources and state are untouched. APT::Sandbox::User=root because _apt cannot write here.
    mkdir -p "$COSIGN_APT/lists/partial" "$COSIGN_APT/cache/archives/partial"
    printf '%s\n' "$COSIGN_DEB_SOURCE" >"$COSIGN_APT/sources.list"
    local -a apt=(
        apt-get -q
        -o "Dir::Etc::sourcelist=$COSIGN_APT/sources.list"
        -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$COSIGN_APT/lists"
        -o "Dir::Cache=$COSIGN_APT/cache"
        -o "APT::Sandbox::User=root"
    )

    local dl="$COSIGN_APT/download"
    rm -rf "$dl" && mkdir -p "$dl"
    log "fetching cosign $COSIGN_DEB_VERSION from: $COSIGN_DEB_SOURCE"
    "${apt[@]}" update >/dev/null || die "apt-get update of the private trixie sources failed"
    if ! (cd "$dl" && "${apt[@]}" download "cosign:$COSIGN_DEB_ARCH=$COSIGN_DEB_VERSION" >/dev/null); then
        die "cannot download the pinned cosign $COSIGN_DEB_VERSION from trixie (has trixie moved on?" \
            "see: apt-cache policy cosign with the same private config); update COSIGN_DEB_VERSION" \
            "and COSIGN_DEB_SHA256 in pipelines/bootstrap.sh"
    fi
    local -a debs=("$dl"/cosign_*_"$COSIGN_DEB_ARCH".deb)
    [[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || die "expected one cosign .deb in $dl"
    local deb="${debs[0]}" sum
    sum="$(sha256sum "$deb" | cut -d' ' -f1)"
    [[ $sum == "$COSIGN_DEB_SHA256" ]] ||
        die "sha256 mismatch for $(basename "$deb"): got $sum, pinned $COSIGN_DEB_SHA256"
    [[ "$(dpkg-deb -f "$deb" Package)" == cosign && "$(dpkg-deb -f "$deb" Version)" == "$COSIGN_DEB_VERSION" ]] ||
        die "$(basename "$deb") is not cosign $COSIGN_DEB_VERSION"

    local root="$dl/root"
    dpkg-deb -x "$deb" "$root"
    mkdir -p "$TOOLS_BIN"
    install -m 0755 "$root/usr/bin/cosign" "$COSIGN.new"
    mv -f "$COSIGN.new" "$COSIGN"
    rm -rf "$dl"
    check_cosign_runs || die "$COSIGN does not run: $("$COSIGN" version 2>&1 | tail -n 3)"
    printf '%s %s\n' "$COSIGN_DEB_VERSION" "$COSIGN_DEB_SHA256" >"$COSIGN_STAMP"
    installed cosign "$(cosign_upstream_version) (debian $COSIGN_DEB_VERSION, ${COSIGN#"$PORTCULLIS_ROOT"/})"
}

main() {
    mkdir -p "$PORTCULLIS_WORK"
    need_apt "${APT_PACKAGES[@]}"
    if cosign_is_current; then
        present cosign "$(cosign_upstream_version) (debian $COSIGN_DEB_VERSION, ${COSIGN#"$PORTCULLIS_ROOT"/})"
    else
        install_cosign
    fi
}

main "$@"
