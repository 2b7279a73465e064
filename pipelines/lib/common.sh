# shellcheck shell=bash
# pipelines/lib/common.sh: helpers shared by the scripts in pipelines/.
#
# Source it (it only defines variables and functions; it runs nothing):
#   . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# Provides:
#   PORTCULLIS_ROOT   the repository root (absolute)
#   PORTCULLIS_WORK   "$PORTCULLIS_ROOT/.work", all local state (git-ignored)
#   log / warn / die  one-line messages prefixed with the calling script's name
#   as_root CMD...    run CMD as root (directly, or through sudo when not root)
#   need_apt PKG...   install the Debian packages that are missing, print one line per package
#   free_port         a free TCP port on 127.0.0.1
#   PIDS / stop_pids  background processes to stop by PID: `cmd & PIDS+=($!)`, and
#                     `trap stop_pids EXIT` once
#   registry_config FILE STORAGE ADDR  the config of a loopback OCI registry (Debian
#                     docker-registry, CNCF distribution) on ADDR (127.0.0.1:PORT), its blobs under
#                     STORAGE: start it with `docker-registry serve FILE`
#   webhook_tls DIR SAN [DAYS]  a CA (DIR/ca.crt) and a serving certificate (DIR/tls.crt,
#                     DIR/tls.key) for SAN (openssl subjectAltName syntax), as cert-manager would
#                     issue, valid for DAYS (default 1)
#
# It deliberately never writes outside PORTCULLIS_WORK except through apt/dpkg in need_apt.

PORTCULLIS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PORTCULLIS_WORK="$PORTCULLIS_ROOT/.work"
export PORTCULLIS_ROOT PORTCULLIS_WORK

_log_tag="$(basename "${0:-pipelines}" .sh)"

log() { printf '%s: %s\n' "$_log_tag" "$*"; }
warn() { printf '%s: warning: %s\n' "$_log_tag" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$_log_tag" "$*" >&2
    exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PIDS=()
stop_pids() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

registry_config() {
    cat >"$1" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $2}, delete: {enabled: true}}
http: {addr: $3}
EOF
}

webhook_tls() {
    local dir="$1" san="$2" days="${3:-1}"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" -subj /CN=portcullis-test-ca \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=portcullis \
        -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
    printf 'subjectAltName=%s\n' "$san" >"$dir/san.ext"
    openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
        -days "$days" -extfile "$dir/san.ext" -out "$dir/tls.crt" 2>/dev/null
}

# Report a tool that is already there: "present  NAME  DETAIL".
present() { printf '%s: present    %-16s %s\n' "$_log_tag" "$1" "${2:-}"; }
# Report a tool this run installed: "installed  NAME  DETAIL".
installed() { printf '%s: installed  %-16s %s\n' "$_log_tag" "$1" "${2:-}"; }

as_root() {
    if [[ ${EUID:-$(id -u)} -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

# apt_version PKG: prints the installed version of PKG, or nothing (exit 1) when not installed.
apt_version() {
    local status
    status="$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null)" || return 1
    [[ $status == installed\ * ]] || return 1
    printf '%s\n' "${status#installed }"
}

_apt_updated=0

# need_apt PKG...: installs the packages that are not installed yet (one apt-get call),
# running `apt-get update` only when something is actually missing.
need_apt() {
    local pkg version
    local -a missing=()
    for pkg in "$@"; do
        if version="$(apt_version "$pkg")"; then
            present "$pkg" "$version (apt)"
        else
            missing+=("$pkg")
        fi
    done
    ((${#missing[@]} > 0)) || return 0

    log "installing with apt: ${missing[*]}"
    local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q)
    if ((_apt_updated == 0)); then
        as_root "${apt[@]}" update >/dev/null || die "apt-get update failed"
        _apt_updated=1
    fi
    as_root "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install failed for: ${missing[*]}"
    for pkg in "${missing[@]}"; do
        version="$(apt_version "$pkg")" || die "$pkg still not installed after apt-get install"
        installed "$pkg" "$version (apt)"
    done
}
