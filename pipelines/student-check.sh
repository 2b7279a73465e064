#!/usr/bin/env bash
# make student-check: does this machine have what the course's demos and labs need?
#
# Looks only, installs nothing. One line per prerequisite:
#   ok        NAME  what was found (version or path)
#   MISSING   NAME  why it is needed, and the exact command that installs it
#   optional  NAME  not found, and what it is only needed for (does not fail the check)
# then one closing line; exits 1 when anything required is missing.
#
# `make bootstrap` (pipelines/bootstrap.sh) installs nearly all of it on Debian/Ubuntu: the apt
# packages, cosign, kubectl where the machine has none, the Python venv. It cannot install the
# Rust toolchain pinned in rust-toolchain.toml where rustup cannot download (install it first),
# nor a container engine.
#
# The kind and minikube scripts (deploy/scripts/kind-up.sh, minikube-up.sh) need a real machine:
# a running container engine (Docker or Podman), internet access to Docker Hub and the chart
# repositories, kind or minikube, and the flux CLI. They are optional here: every lab and demo of
# the course runs without a cluster.
#
# Environment (for tests): PG_BINDIR (default /usr/lib/postgresql/15/bin).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PG_BINDIR="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"
MISSING=()
OPTIONAL=()

ok() { printf 'ok        %-16s %s\n' "$1" "$2"; }
missing() {
    printf 'MISSING   %-16s %s; install: %s\n' "$1" "$2" "$3"
    MISSING+=("$1")
}
optional() {
    printf 'optional  %-16s %s; install: %s\n' "$1" "$2" "$3"
    OPTIONAL+=("$1")
}

# first_line CMD...: the first line CMD prints (stdout or stderr), or nothing.
first_line() { "$@" 2>&1 | head -n 1 || true; }

# tool NAME WHY INSTALL [VERSION-ARGS...]: a required command on PATH.
tool() {
    local name="$1" why="$2" install="$3"
    shift 3
    if command -v "$name" >/dev/null 2>&1; then
        ok "$name" "$(first_line "$name" "${@:---version}" | cut -c1-60)"
    else
        missing "$name" "$why" "$install"
    fi
}

check_rust() {
    local want have
    want="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$PORTCULLIS_ROOT/rust-toolchain.toml")"
    local install="curl --proto '=https' -sSf https://sh.rustup.rs | sh -s -- -y --default-toolchain none && rustup toolchain install $want --profile minimal --component rustfmt,clippy"
    if ! command -v cargo >/dev/null 2>&1 || ! command -v rustc >/dev/null 2>&1; then
        missing rust "cargo and rustc $want (rust-toolchain.toml) build portcullis and the labs' tools" "$install"
        return
    fi
    # From the repository root, so that rustup picks the toolchain rust-toolchain.toml names.
    have="$(cd "$PORTCULLIS_ROOT" && rustc --version 2>&1 | head -n 1 || true)"
    if [[ $have == "rustc $want "* ]]; then
        ok rust "$have, $(cd "$PORTCULLIS_ROOT" && first_line cargo --version)"
    else
        missing rust "rust-toolchain.toml pins $want, rustc here says: ${have:-nothing}" \
            "rustup toolchain install $want --profile minimal --component rustfmt,clippy"
    fi
}

check_python() {
    if ! command -v python3 >/dev/null 2>&1; then
        missing python3 "the manifest checks and lab checks run in a Python venv" "sudo apt-get install -y python3 python3-venv"
    elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        missing python3-venv "$(first_line python3 --version) has no venv/ensurepip (make bootstrap makes .work/venv)" \
            "sudo apt-get install -y python3-venv"
    else
        ok python3 "$(first_line python3 --version) with venv"
    fi
}

check_postgres() {
    if [[ -x $PG_BINDIR/postgres && -x $PG_BINDIR/initdb ]]; then
        ok postgresql-15 "$(first_line "$PG_BINDIR/postgres" --version)"
    else
        missing postgresql-15 "lab 11 and the workloads' tests start a PostgreSQL 15 on loopback ($PG_BINDIR)" \
            "sudo apt-get install -y postgresql-15"
    fi
}

# In .work/tools (make bootstrap extracts them there), or on PATH.
check_bootstrapped() {
    local name="$1" why="$2" path="$3"
    if [[ -x $path ]]; then
        ok "$name" "$("$path" version 2>&1 | sed -n 's/^GitVersion: *//p' | head -n 1) (${path#"$PORTCULLIS_ROOT"/})"
    elif command -v "$name" >/dev/null 2>&1; then
        ok "$name" "$(command -v "$name")"
    else
        missing "$name" "$why" "make bootstrap"
    fi
}

check_kubectl() {
    local k
    k="$(command -v kubectl 2>/dev/null || true)"
    [[ -n $k ]] || [[ ! -x $PORTCULLIS_WORK/tools/fallback/bin/kubectl ]] || k="$PORTCULLIS_WORK/tools/fallback/bin/kubectl"
    if [[ -n $k ]]; then
        ok kubectl "$(first_line "$k" version --client) (kustomize offline; no cluster needed)"
    else
        missing kubectl "module 6 and the manifest checks render deploy/ with kubectl kustomize" "make bootstrap"
    fi
}

check_container_engine() {
    local engine
    for engine in docker podman; do
        if command -v "$engine" >/dev/null 2>&1 && timeout 10 "$engine" info >/dev/null 2>&1; then
            ok container-engine "$engine, daemon answering (kind-up.sh / minikube-up.sh can use it)"
            return
        fi
    done
    optional container-engine \
        "no running Docker or Podman: deploy/scripts/kind-up.sh and minikube-up.sh need one, on a real machine with internet access" \
        "sudo apt-get install -y docker.io (then start its daemon), or podman"
    command -v kind >/dev/null 2>&1 || optional kind "only for deploy/scripts/kind-up.sh (kind >= 0.24)" \
        "go install sigs.k8s.io/kind@v0.27.0 (or your distribution's kind package)"
    command -v minikube >/dev/null 2>&1 || optional minikube "only for deploy/scripts/minikube-up.sh (minikube >= 1.33)" \
        "see https://minikube.sigs.k8s.io/docs/start/"
    command -v flux >/dev/null 2>&1 || optional flux "only for the cluster scripts in deploy/scripts (flux CLI >= 2.7)" \
        "curl -s https://fluxcd.io/install.sh | sudo bash"
}

main() {
    echo "student-check: prerequisites for the course (docs/course/README.md)"
    tool git "the course works in a clone of this repository" "sudo apt-get install -y git"
    tool make "every demo and lab starts with a make target" "sudo apt-get install -y make"
    check_rust
    tool jq "lab checks and demo scripts read JSON" "sudo apt-get install -y jq"
    tool curl "labs ask the registry and the webhook's admin port" "sudo apt-get install -y curl" --version
    tool openssl "labs make TLS certificates for the webhook" "sudo apt-get install -y openssl" version
    check_python
    tool docker-registry "labs and the demo run a loopback OCI registry" "sudo apt-get install -y docker-registry" --version
    check_postgres
    check_kubectl
    check_bootstrapped cosign "labs 01-04 sign and verify with the real cosign 2.5" "$PORTCULLIS_WORK/tools/bin/cosign"
    if command -v chromium >/dev/null 2>&1; then
        ok chromium "$(chromium --version 2>/dev/null | grep -m 1 -o 'Chromium [0-9.]*' || true) (views the HTML audit report, module 9)"
    else
        optional chromium "only to view the HTML audit report (any browser does)" "sudo apt-get install -y chromium"
    fi
    check_container_engine
    if [[ ${#MISSING[@]} -gt 0 ]]; then
        echo "student-check: ${#MISSING[@]} required missing (${MISSING[*]}); \`make bootstrap\` installs most of them (not Rust, see its line)"
        exit 1
    fi
    echo "student-check: ready (${#OPTIONAL[@]} optional missing${OPTIONAL[*]:+: ${OPTIONAL[*]}})"
}

main "$@"
