#!/usr/bin/env bash
# pipelines/bootstrap-compose.sh: install what `make compose-smoke` needs, and only what is missing.
# Idempotent like bootstrap.sh: a second run prints "present" lines only.
#
# - A Docker engine: Debian's docker.io (20.10, with containerd and runc), unless a dockerd is
#   already on PATH (docker-ce, say). Installing it starts nothing here (no init system; the
#   smoke test starts its own private daemon, see pipelines/lib/engine.sh); on a machine with
#   systemd the package enables the system daemon as usual.
# - mmdebstrap, to build the stand-ins for Docker Hub images from Debian (pipelines/lib/standins.sh);
#   skopeo, to load the pipeline's OCI layouts into the daemon; openssl for the TLS step.
# - Docker Compose v2, the CLI plugin, taken from Debian trixie's docker-compose package at a
#   pinned version and sha256 with a private apt configuration (the system's apt sources are not
#   touched), extracted (not installed) to .work/tools/docker/cli-plugins/docker-compose.
#   Use it with DOCKER_CONFIG=.work/tools/docker (pipelines/lib/engine.sh does).
# A docker CLI comes with docker.io; one already on PATH (docker CLI 28, say) is used first.
set -euo pipefail

# --- pins -------------------------------------------------------------------------------------
# To bump: `apt-get download docker-compose` with the private config below, then update both lines.
COMPOSE_DEB_VERSION="2.26.1-4"
COMPOSE_DEB_SHA256="47681197cb2b1ab88206b42a1a92fc75f50d9530a6322d03494a473eed0408ea"
COMPOSE_DEB_ARCH="amd64"
COMPOSE_DEB_SOURCE="deb http://deb.debian.org/debian trixie main"

APT_PACKAGES=(mmdebstrap skopeo openssl curl jq ca-certificates)
# ----------------------------------------------------------------------------------------------

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

DOCKER_TOOLS="$PORTCULLIS_WORK/tools/docker"
COMPOSE_PLUGIN="$DOCKER_TOOLS/cli-plugins/docker-compose"
COMPOSE_STAMP="$DOCKER_TOOLS/.docker-compose.stamp"
COMPOSE_APT="$PORTCULLIS_WORK/tools/compose-apt"

compose_is_current() {
    [[ -x $COMPOSE_PLUGIN && -f $COMPOSE_STAMP ]] || return 1
    [[ "$(<"$COMPOSE_STAMP")" == "$COMPOSE_DEB_VERSION $COMPOSE_DEB_SHA256" ]] || return 1
    "$COMPOSE_PLUGIN" version >/dev/null 2>&1
}

install_compose() {
    local arch
    arch="$(dpkg --print-architecture)"
    [[ $arch == "$COMPOSE_DEB_ARCH" ]] ||
        die "docker-compose pin is for $COMPOSE_DEB_ARCH, this machine is $arch: add a pin for it"
    # Trixie's lists and cache live in .work; APT::Sandbox::User=root because _apt cannot write here.
    mkdir -p "$COMPOSE_APT/lists/partial" "$COMPOSE_APT/cache/archives/partial"
    printf '%s\n' "$COMPOSE_DEB_SOURCE" >"$COMPOSE_APT/sources.list"
    local -a apt=(
        apt-get -q
        -o "Dir::Etc::sourcelist=$COMPOSE_APT/sources.list"
        -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$COMPOSE_APT/lists"
        -o "Dir::Cache=$COMPOSE_APT/cache"
        -o "APT::Sandbox::User=root"
    )
    local dl="$COMPOSE_APT/download"
    rm -rf "$dl" && mkdir -p "$dl"
    log "fetching docker-compose $COMPOSE_DEB_VERSION from: $COMPOSE_DEB_SOURCE"
    "${apt[@]}" update >/dev/null || die "apt-get update of the private trixie sources failed"
    if ! (cd "$dl" && "${apt[@]}" download "docker-compose:$COMPOSE_DEB_ARCH=$COMPOSE_DEB_VERSION" >/dev/null); then
        die "cannot download the pinned docker-compose $COMPOSE_DEB_VERSION from trixie (has trixie moved" \
            "on?); update COMPOSE_DEB_VERSION and COMPOSE_DEB_SHA256 in pipelines/bootstrap-compose.sh"
    fi
    local -a debs=("$dl"/docker-compose_*_"$COMPOSE_DEB_ARCH".deb)
    [[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || die "expected one docker-compose .deb in $dl"
    local deb="${debs[0]}" sum
    sum="$(sha256sum "$deb" | cut -d' ' -f1)"
    [[ $sum == "$COMPOSE_DEB_SHA256" ]] ||
        die "sha256 mismatch for $(basename "$deb"): got $sum, pinned $COMPOSE_DEB_SHA256"
    [[ "$(dpkg-deb -f "$deb" Package)" == docker-compose && "$(dpkg-deb -f "$deb" Version)" == "$COMPOSE_DEB_VERSION" ]] ||
        die "$(basename "$deb") is not docker-compose $COMPOSE_DEB_VERSION"
    dpkg-deb -x "$deb" "$dl/root"
    local plugin="$dl/root/usr/libexec/docker/cli-plugins/docker-compose"
    [[ -x $plugin ]] || die "$(basename "$deb") has no usr/libexec/docker/cli-plugins/docker-compose"
    mkdir -p "$(dirname "$COMPOSE_PLUGIN")"
    install -m 0755 "$plugin" "$COMPOSE_PLUGIN.new"
    mv -f "$COMPOSE_PLUGIN.new" "$COMPOSE_PLUGIN"
    rm -rf "$dl"
    "$COMPOSE_PLUGIN" version >/dev/null 2>&1 || die "$COMPOSE_PLUGIN does not run"
    printf '%s %s\n' "$COMPOSE_DEB_VERSION" "$COMPOSE_DEB_SHA256" >"$COMPOSE_STAMP"
    installed docker-compose "$("$COMPOSE_PLUGIN" version --short) (debian $COMPOSE_DEB_VERSION, ${COMPOSE_PLUGIN#"$PORTCULLIS_ROOT"/})"
}

main() {
    mkdir -p "$PORTCULLIS_WORK"
    need_apt "${APT_PACKAGES[@]}"
    if command -v dockerd >/dev/null && ! apt_version docker.io >/dev/null; then
        present dockerd "$(dockerd --version | sed 's/^Docker version //') ($(command -v dockerd), not from docker.io)"
    else
        need_apt docker.io
    fi
    command -v docker >/dev/null || die "no docker CLI on PATH after installing docker.io"
    if compose_is_current; then
        present docker-compose "$("$COMPOSE_PLUGIN" version --short) (debian $COMPOSE_DEB_VERSION, ${COMPOSE_PLUGIN#"$PORTCULLIS_ROOT"/})"
    else
        install_compose
    fi
}

main "$@"
