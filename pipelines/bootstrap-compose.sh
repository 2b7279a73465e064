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
# To bump: `apt-get download docker-compose` with the private config of lib/trixie.sh, then update
# both lines.
COMPOSE_DEB_VERSION="2.26.1-4"
COMPOSE_DEB_SHA256="47681197cb2b1ab88206b42a1a92fc75f50d9530a6322d03494a473eed0408ea"

APT_PACKAGES=(mmdebstrap skopeo openssl curl jq ca-certificates)
# ----------------------------------------------------------------------------------------------

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/trixie.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/trixie.sh"

DOCKER_TOOLS="$PORTCULLIS_WORK/tools/docker"
COMPOSE_PLUGIN="$DOCKER_TOOLS/cli-plugins/docker-compose"

compose_is_current() {
    trixie_is_current "$COMPOSE_PLUGIN" "$COMPOSE_DEB_VERSION" "$COMPOSE_DEB_SHA256" &&
        "$COMPOSE_PLUGIN" version >/dev/null 2>&1
}

install_compose() {
    install_trixie_file docker-compose "$COMPOSE_DEB_VERSION" "$COMPOSE_DEB_SHA256" \
        usr/libexec/docker/cli-plugins/docker-compose "$COMPOSE_PLUGIN"
    "$COMPOSE_PLUGIN" version >/dev/null 2>&1 || die "$COMPOSE_PLUGIN does not run"
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
