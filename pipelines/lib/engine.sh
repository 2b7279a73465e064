# shellcheck shell=bash
# pipelines/lib/engine.sh: a private Docker engine for pipelines/compose-smoke.sh.
#
# Source it after lib/common.sh; it only defines variables and functions:
#   ENGINE_DIR       the engine's state: data-root, exec-root, socket, daemon.json, dockerd.log
#   engine_start     start dockerd (Debian's docker.io) on its own unix socket and export
#                    DOCKER_HOST and DOCKER_CONFIG (the compose plugin from bootstrap-compose.sh);
#                    its PID goes to ENGINE_PID, for engine_stop
#   engine_stop      SIGTERM to that PID (dockerd stops its containers and its own containerd),
#                    SIGKILL to it and its containerd after 30 s; a no-op when nothing was started
#   dc ARGS...       `docker compose` on the repository's compose.yaml (also as COMPOSE_CMD)
#
# The daemon shares nothing with a system Docker: its own data-root and exec-root (so its own
# containerd), socket and pidfile. Networking is kept to what the host already allows:
# "bridge": "none" (no docker0), "iptables"/"ip6tables": false (no NAT or filter rules),
# "ip-forward": false (the host is not made a router). Compose's project network is a
# user-defined bridge that containers share; published ports are served by docker-proxy (the
# userland proxy) on the addresses compose.yaml names, 127.0.0.1 only. Storage: overlay2 where
# the kernel mounts it on the data-root's file system, vfs otherwise (slower, more disk).
# It never touches /var/run/docker.sock, /var/lib/docker or a system containerd. Needs root, as
# dockerd does (there is no rootless setup here).

ENGINE_DIR="${ENGINE_DIR:-$PORTCULLIS_WORK/compose-smoke/engine}"
DOCKER_TOOLS="$PORTCULLIS_WORK/tools/docker"
ENGINE_PID=""

# engine_storage_driver: overlay2 if an overlay mount works under the data-root, else vfs.
engine_storage_driver() {
    local probe="$ENGINE_DIR/overlay-probe" driver=vfs
    rm -rf "$probe" && mkdir -p "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
    if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
        "$probe/merged" 2>/dev/null; then
        umount "$probe/merged"
        driver=overlay2
    fi
    rm -rf "$probe"
    echo "$driver"
}

engine_start() {
    # dockerd needs root, and so does its socket (root-owned, 0660) for the CLI.
    [[ ${EUID:-$(id -u)} -eq 0 ]] || die "the private Docker engine needs root: run this as root (e.g. sudo -E)"
    command -v dockerd >/dev/null || die "no dockerd: run pipelines/bootstrap-compose.sh"
    [[ -x $DOCKER_TOOLS/cli-plugins/docker-compose ]] ||
        die "no docker compose plugin in ${DOCKER_TOOLS#"$PORTCULLIS_ROOT"/}: run pipelines/bootstrap-compose.sh"
    mkdir -p "$ENGINE_DIR/data" "$ENGINE_DIR/exec"
    local sock="$ENGINE_DIR/docker.sock" pidfile="$ENGINE_DIR/dockerd.pid"
    # containerd puts "<exec-root>/containerd/containerd.sock.ttrpc" there: a unix socket path
    # holds at most 107 bytes.
    local longest="$ENGINE_DIR/exec/containerd/containerd.sock.ttrpc"
    ((${#longest} <= 107)) || die "the engine's socket paths are too long (${#longest} > 107 bytes):" \
        "set ENGINE_DIR to a shorter folder (e.g. ENGINE_DIR=/tmp/pc-engine)"
    if [[ -s $pidfile ]] && kill -0 "$(<"$pidfile")" 2>/dev/null; then
        die "a dockerd from an earlier run still runs with this state (PID $(<"$pidfile"), $pidfile):" \
            "stop it first: kill $(<"$pidfile")"
    fi
    rm -f "$pidfile" "$sock"
    local driver
    driver="$(engine_storage_driver)"
    jq -n --arg dir "$ENGINE_DIR" --arg driver "$driver" '{
        "data-root": ($dir + "/data"), "exec-root": ($dir + "/exec"), pidfile: ($dir + "/dockerd.pid"),
        hosts: ["unix://" + $dir + "/docker.sock"], bridge: "none", iptables: false, ip6tables: false,
        "ip-forward": false, "userland-proxy": true, "storage-driver": $driver, "log-level": "warn"
      }' >"$ENGINE_DIR/daemon.json"
    dockerd --config-file "$ENGINE_DIR/daemon.json" >"$ENGINE_DIR/dockerd.log" 2>&1 &
    ENGINE_PID=$!
    export DOCKER_HOST="unix://$sock" DOCKER_CONFIG="$DOCKER_TOOLS"
    local _
    for _ in $(seq 1 120); do
        docker version >/dev/null 2>&1 && break
        kill -0 "$ENGINE_PID" 2>/dev/null || break
        sleep 0.5
    done
    if ! docker version >/dev/null 2>&1; then
        tail -n 20 "$ENGINE_DIR/dockerd.log" >&2
        die "dockerd did not answer on $sock within 60 s, see ${ENGINE_DIR#"$PORTCULLIS_ROOT"/}/dockerd.log"
    fi
    log "dockerd $(docker version -f '{{.Server.Version}}') (PID $ENGINE_PID, $driver) on $sock;" \
        "docker CLI $(docker version -f '{{.Client.Version}}'), compose $(docker compose version --short)"
}

engine_stop() {
    [[ -n $ENGINE_PID ]] || return 0
    kill -TERM "$ENGINE_PID" 2>/dev/null || true
    local _
    for _ in $(seq 1 60); do
        kill -0 "$ENGINE_PID" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$ENGINE_PID" 2>/dev/null; then
        warn "dockerd (PID $ENGINE_PID) did not stop within 30 s of SIGTERM: SIGKILL"
        kill -KILL "$ENGINE_PID" 2>/dev/null || true
        # Its containerd runs in a process group of its own and would outlive it.
        local ctrd="$ENGINE_DIR/exec/containerd/containerd.pid"
        if [[ -s $ctrd ]] && kill -0 "$(<"$ctrd")" 2>/dev/null; then
            kill -KILL "$(<"$ctrd")" 2>/dev/null || true
        fi
    fi
    wait "$ENGINE_PID" 2>/dev/null || true
    ENGINE_PID=""
}

# The repository's compose.yaml, without terminal control sequences in logs. `dc` for calls in
# this shell; "${COMPOSE_CMD[@]}" where an outer command (timeout) runs it.
COMPOSE_CMD=(docker compose --ansi never --project-directory "$PORTCULLIS_ROOT" -f "$PORTCULLIS_ROOT/compose.yaml")
dc() { "${COMPOSE_CMD[@]}" "$@"; }
