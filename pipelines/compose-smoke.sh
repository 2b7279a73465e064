#!/usr/bin/env bash
# make compose-smoke: compose.yaml brought up for real, unchanged, and proven to work. Run it after
# `make pipeline`, whose image builds it reuses (a rebuild inside Docker would cost ~20 minutes).
#
#   1. setup   the images `make pipeline` built (OCI layouts under .work/pipeline/out/<image>/oci)
#              must exist; pipelines/bootstrap-compose.sh (docker.io, pinned compose v2 plugin);
#              pipelines/compose-init.sh (DB password, TLS); a private dockerd (lib/engine.sh);
#              stand-ins for registry:2 and postgres built from Debian (lib/standins.sh); the
#              three app images loaded under the names compose.yaml gives them;
#              `docker compose up --no-build --pull never` on free loopback ports
#   2. checks  registry push/read back, postgres healthy, migrate exited 0, webhook /readyz with the
#              policy files compose.yaml names, AdmissionReviews over TLS verified against the
#              compose CA (compliant Pod allowed, privileged Pod denied with its reason, bare Pod
#              patched by /mutate), jobs-api and jobs-worker ready, a job end to end through the
#              API and the worker, `docker compose down -v` leaving nothing behind
#              (lib/compose-checks.sh)
#   3. a table: each step and check, PASS/FAIL, seconds, what it found. Exit 1 on any failure.
#
# What is real: compose.yaml as written, Docker Engine 20.10 and Compose v2, the webhook and
# workload images built from their Dockerfiles by the pipeline. What is not: registry:2 and
# postgres are local stand-ins under the same names (Debian packages, see lib/standins.sh and
# docs/compose.md), since Docker Hub is unreachable here.
# Idempotent and bounded: stand-ins and loaded images are reused, every wait has a timeout, and
# everything started is stopped on exit (compose down -v, then dockerd by its PID).
# Environment: ENGINE_DIR (the engine's state, default .work/compose-smoke/engine),
# PIPELINE_WORK (where the pipeline's outputs are, default .work/pipeline), DEBIAN_MIRROR.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/images.sh"
# shellcheck source-path=SCRIPTDIR source=lib/engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/engine.sh"
# shellcheck source-path=SCRIPTDIR source=lib/standins.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/standins.sh"
# shellcheck source-path=SCRIPTDIR source=lib/compose-checks.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/compose-checks.sh"

SMOKE_DIR="$PORTCULLIS_WORK/compose-smoke/run"
LOGS="$PORTCULLIS_WORK/compose-smoke/logs"
TLS_CA="$PORTCULLIS_WORK/compose/tls/ca.crt"
RESULTS=()
FAILED=0
CURRENT=""
CURRENT_START=0
COMPOSE_STARTED=0
CHECK_PID=""

now_s() { date +%s.%N; }
slug() { tr -c 'a-z0-9\n' '-' <<<"${1,,}"; }

# record NAME RESULT START DETAIL
record() {
    local secs
    secs="$(awk -v s="$3" -v e="$(now_s)" 'BEGIN { printf "%.1f", e - s }')"
    RESULTS+=("$1"$'\t'"$2"$'\t'"$secs"$'\t'"$4")
    [[ $2 == PASS ]] || FAILED=$((FAILED + 1))
    printf '==> %-24s %s (%s s) %s\n' "$1" "$2" "$secs" "$4" >&3
}

# last_line FILE: the line a step or check ended on (its verdict).
last_line() { sed '/^[[:space:]]*$/d' "$1" 2>/dev/null | tail -n 1; }

# setup NAME FUNCTION...: a step that prepares state (exports, the engine's PID), so it runs in
# this shell with errexit; a failure ends the script and the EXIT trap records it.
setup() {
    CURRENT="$1"
    shift
    CURRENT_START="$(now_s)"
    printf -- '--> %s\n' "$CURRENT" >&3
    "$@" >"$LOGS/$(slug "$CURRENT").log" 2>&1
    record "$CURRENT" PASS "$CURRENT_START" "$(last_line "$LOGS/$(slug "$CURRENT").log")"
    CURRENT=""
}

# check NAME FUNCTION...: a check, in a subshell with errexit; a failure is recorded and the
# checks go on.
check() {
    local name="$1" start log
    shift
    start="$(now_s)"
    log="$LOGS/$(slug "$name").log"
    ("$@") >"$log" 2>&1 &
    CHECK_PID=$!
    if wait "$CHECK_PID"; then
        CHECK_PID=""
        record "$name" PASS "$start" "$(last_line "$log")"
    else
        CHECK_PID=""
        record "$name" FAIL "$start" "$(last_line "$log")"
        sed 's/^/    /' "$log" | tail -n 15
        capture_compose_state
    fi
}

# capture_compose_state: container states and recent logs at the first failure, before anything
# is torn down (once per run).
CAPTURED=0
capture_compose_state() {
    ((COMPOSE_STARTED && !CAPTURED)) || return 0
    CAPTURED=1
    { dc ps -a; dc logs --no-color --timestamps --tail 40; } >"$LOGS/compose-at-failure.log" 2>&1 || true
    log "container states and logs at the first failure: ${LOGS#"$PORTCULLIS_ROOT"/}/compose-at-failure.log"
}

summary() {
    printf '\n%-26s %-6s %8s  %s\n' "STEP / CHECK" RESULT SECONDS DETAIL
    printf '%s\n' "----------------------------------------------------------------------------------------------------"
    local row name result secs detail
    for row in "${RESULTS[@]}"; do
        IFS=$'\t' read -r name result secs detail <<<"$row"
        # A failure's line in full; a pass's shortened to fit the table.
        [[ $result != PASS ]] || detail="${detail:0:100}"
        printf '%-26s %-6s %8s  %s\n' "$name" "$result" "$secs" "$detail"
    done
    printf '\n'
}

on_exit() {
    local rc=$?
    trap - EXIT
    # A step that failed exited with its output redirected to its log: back to the terminal.
    exec 1>&3 2>&4
    # A check still running when a signal came: stop it before what it talks to goes away.
    if [[ -n $CHECK_PID ]]; then
        kill "$CHECK_PID" 2>/dev/null || true
        wait "$CHECK_PID" 2>/dev/null || true
    fi
    if [[ -n $CURRENT ]]; then
        local why
        why="$(last_line "$LOGS/$(slug "$CURRENT").log")"
        ((rc < 128)) || why="interrupted (exit $rc) after: $why"
        record "$CURRENT" FAIL "$CURRENT_START" "$why"
        sed 's/^/    /' "$LOGS/$(slug "$CURRENT").log" | tail -n 20
    fi
    if ((COMPOSE_STARTED)); then
        ((FAILED == 0 && rc == 0)) || capture_compose_state
        timeout 120 "${COMPOSE_CMD[@]}" down -v --timeout 10 >/dev/null 2>&1 ||
            warn "docker compose down -v failed during cleanup"
    fi
    engine_stop
    stop_pids
    ((${#RESULTS[@]} == 0)) || summary
    if ((FAILED > 0 || rc != 0)); then
        log "FAILED: $FAILED of ${#RESULTS[@]} step(s) failed; logs in ${LOGS#"$PORTCULLIS_ROOT"/}"
        exit 1
    fi
    log "all ${#RESULTS[@]} steps passed in $SECONDS s; engine disk: $(du -sh "$ENGINE_DIR/data" 2>/dev/null | cut -f1)"
}

# --- setup steps ----------------------------------------------------------------------------------

# The compose services built from a Dockerfile, as "SERVICE PIPELINE-IMAGE IMAGE" lines
# (PIPELINE-IMAGE is "unknown:DOCKERFILE" for a Dockerfile the pipeline does not build; IMAGE is
# missing when the service has no image: name).
app_images() {
    local service dockerfile image name found
    while read -r service dockerfile image; do
        found="unknown:$dockerfile"
        for name in portcullis jobs-api jobs-worker; do
            [[ $(image_dockerfile "$name") != "$dockerfile" ]] || found="$name"
        done
        echo "$service $found $image"
    done < <(jq -r '.services | to_entries[] | select(.value.build) |
        "\(.key) \(.value.build.dockerfile) \(.value.image // "")"' <<<"$COMPOSE_JSON")
}

need_pipeline_images() {
    local service image name missing=()
    while read -r service name image; do
        [[ $name != unknown:* ]] || die "compose service $service builds ${name#unknown:}, which the pipeline does not build"
        [[ -n $image ]] || die "compose service $service has build: but no image: name to load the pipeline's build under"
        [[ -f $PIPELINE_OUT/$name/oci/index.json ]] || missing+=("$name")
    done < <(app_images)
    if ((${#missing[@]} > 0)); then
        mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
        die "no pipeline build of ${missing[*]} (${PIPELINE_OUT#"$PORTCULLIS_ROOT"/}/<image>/oci): run make pipeline" \
            "first (it must build portcullis, jobs-api and jobs-worker, e.g." \
            "PIPELINE_IMAGES=\"portcullis jobs-api jobs-worker\" make pipeline)"
    fi
    echo "OCI layouts for $(app_images | awk '{ print $2 }' | sort -u | paste -sd' ') from $(jq -r '"\(.commit[:12]) dirty=\(.dirty)"' "$PIPELINE_OUT/source.json" 2>/dev/null)"
}

# load_app_image IMAGE NAME: the pipeline's OCI layout of NAME into the engine as IMAGE, unless
# IMAGE already is that build (docker's image ID is the config digest).
load_app_image() {
    local ref="$1" oci="$PIPELINE_OUT/$2/oci" manifest config have
    manifest="$(jq -r '.manifests[0].digest' "$oci/index.json")"
    config="$(jq -r .config.digest "$oci/blobs/sha256/${manifest#sha256:}")"
    have="$(docker image inspect -f '{{.Id}}' "$ref" 2>/dev/null)" || have=""
    if [[ $have == "$config" ]]; then
        present "$ref" "$2 ${manifest:0:19} (already loaded)"
        return
    fi
    skopeo copy --quiet --dest-daemon-host "$DOCKER_HOST" "oci:$oci" "docker-daemon:$ref" ||
        die "loading $oci into the engine as $ref failed"
    have="$(docker image inspect -f '{{.Id}}' "$ref")"
    [[ $have == "$config" ]] || die "$ref has image ID $have after loading, expected the config digest $config"
    installed "$ref" "$2 ${manifest:0:19}"
}

load_app_images() {
    local service image name
    while read -r service name image; do
        load_app_image "$image" "$name"
    done < <(app_images | sort -u -k3,3)
    docker image prune -f >/dev/null
    echo "$(app_images | awk '{ print $3 }' | sort -u | wc -l) images from the pipeline's OCI layouts"
}

standins() {
    mkdir -p "$STANDINS_DIR"
    standin_registry "$(jq -r .services.registry.image <<<"$COMPOSE_JSON")"
    standin_postgres "$(jq -r .services.postgres.image <<<"$COMPOSE_JSON")"
    echo "$(jq -r .services.registry.image <<<"$COMPOSE_JSON") and $(jq -r .services.postgres.image <<<"$COMPOSE_JSON") (stand-ins)"
}

# Free loopback ports for everything compose.yaml publishes, through the variables it reads.
pick_ports() {
    local var
    for var in REGISTRY_PORT WEBHOOK_PORT WEBHOOK_ADMIN_PORT JOBS_API_PORT JOBS_API_ADMIN_PORT JOBS_WORKER_ADMIN_PORT; do
        printf -v "$var" '%s' "$(free_port)"
        export "${var?}"
    done
}

compose_up() {
    pick_ports
    local project
    project="$(jq -r .name <<<"$COMPOSE_JSON")"
    if [[ -n "$(docker ps -aq --filter "label=com.docker.compose.project=$project")" ]]; then
        log "removing containers an earlier, interrupted run left"
        timeout 120 "${COMPOSE_CMD[@]}" down -v --timeout 5
    fi
    COMPOSE_STARTED=1
    timeout 300 "${COMPOSE_CMD[@]}" up --detach --no-build --pull never ||
        die "docker compose up failed or took over 300 s"
    echo "$(dc ps -q | wc -l) containers running; webhook https://localhost:$WEBHOOK_PORT, api http://127.0.0.1:$JOBS_API_PORT"
}

bootstrap() {
    "$PORTCULLIS_ROOT/pipelines/bootstrap-compose.sh"
    echo "dockerd $(dockerd --version | sed 's/^Docker version //; s/,.*//'), compose plugin" \
        "$("$DOCKER_TOOLS/cli-plugins/docker-compose" version --short), docker CLI on PATH: $(command -v docker)"
}
compose_init() { "$PORTCULLIS_ROOT/pipelines/compose-init.sh"; }

# compose.yaml as the compose plugin reads it (anchors merged, variables at their defaults), as
# JSON for jq. Needs no engine.
read_compose() {
    export DOCKER_CONFIG="$DOCKER_TOOLS"
    COMPOSE_JSON="$(dc config --format json)" || die "docker compose config cannot read compose.yaml"
    echo "project $(jq -r .name <<<"$COMPOSE_JSON"): $(jq -r '.services | keys | join(", ")' <<<"$COMPOSE_JSON")"
}

start_engine() {
    engine_start
    echo "dockerd $(docker version -f '{{.Server.Version}}'), docker CLI $(docker version -f '{{.Client.Version}}'), compose $(docker compose version --short)"
}

main() {
    rm -rf "$SMOKE_DIR" "$LOGS" && mkdir -p "$SMOKE_DIR" "$LOGS"
    # The terminal, kept for progress lines and the summary while steps write to their logs.
    exec 3>&1 4>&2
    trap on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    setup "bootstrap" bootstrap
    setup "compose files (TLS, DB)" compose_init
    setup "read compose.yaml" read_compose
    setup "pipeline images present" need_pipeline_images
    setup "engine" start_engine
    setup "stand-in images" standins
    setup "app images loaded" load_app_images
    setup "compose up" compose_up
    export REGISTRY_PORT WEBHOOK_PORT WEBHOOK_ADMIN_PORT JOBS_API_PORT JOBS_API_ADMIN_PORT JOBS_WORKER_ADMIN_PORT
    export TLS_CA SMOKE_DIR COMPOSE_JSON
    OCI_PORTCULLIS="$PIPELINE_OUT/portcullis/oci"
    check "registry push/read" check_registry
    check "postgres healthy" check_postgres
    check "migrate exited 0" check_migrate
    check "webhook ready" check_webhook_ready
    check "admit compliant Pod" check_admit_compliant
    check "deny privileged Pod" check_deny_privileged
    check "mutate bare Pod" check_mutate_defaults
    check "api + worker ready" check_workloads_ready
    check "job end to end" check_job
    check "compose down -v" check_down
}

main "$@"
