# shellcheck shell=bash
# pipelines/lib/lab.sh: what every lab's start.sh, check.sh, solve.sh and wrong/*.sh share.
#
# pipelines/lab.sh runs those scripts (never sources them) with, in the environment:
#   LAB           the lab's folder name, e.g. 05-pod-security-restricted
#   LAB_DIR       docs/course/labs/$LAB (absolute): instructions, scripts, reference files
#   LAB_HOME      the student's workspace, .work/labs/$LAB unless set: start.sh fills it, the
#                 student edits it, check.sh judges it. Nothing else is judged.
#   LAB_BIN       the portcullis CLI;  LAB_EXAMPLES  the testkit's tools (push_image, sigstore_sign)
#                 (the admission replay `rehearse` is built next to LAB_BIN)
#   COSIGN        the real cosign 2.5 CLI (.work/tools/bin/cosign)
# and each script sources this file:
#   . "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
#
# Provides, besides pipelines/lib/common.sh:
#   finding TEXT      check.sh: one line saying what is still wrong (in words a student acts on)
#   check_done        check.sh, last: "passed" and exit 0 with no finding, else a count and exit 1
#   lab_env K=V       remember a fact of the start state in $LAB_HOME/lab.env (sourced back on
#                     every later run, so check.sh and solve.sh know the registry's address)
#   lab_bg NAME CMD…  a background process of the lab, its PID in $LAB_HOME/run/NAME.pid;
#                     `make lab-stop` (and the next lab-start) stops it
#   lab_registry      the lab's loopback registry (storage in $LAB_HOME/registry), started on the
#                     port lab.env remembers, or a new one; sets REGISTRY=127.0.0.1:PORT
#   lab_stop          stop every process of this lab, by PID
#   lab_yaml FILE     every YAML document of FILE, as one JSON array (a parse error names the
#                     file and line, as a finding would)
#   lab_pod …         (see below) a Pod manifest
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source-path=SCRIPTDIR source=venv.sh
. "$(dirname "${BASH_SOURCE[0]}")/venv.sh"

: "${LAB:?run labs through make lab-start/lab-check/lab-solve (pipelines/lab.sh)}" "${LAB_HOME:?}" "${LAB_DIR:?}"
_log_tag="lab ${LAB%%-*}"
# shellcheck source=/dev/null
[[ ! -f $LAB_HOME/lab.env ]] || . "$LAB_HOME/lab.env"

FINDINGS=0
finding() {
    FINDINGS=$((FINDINGS + 1))
    printf 'lab %s: still wrong: %s\n' "${LAB%%-*}" "$*"
}
check_done() {
    if [[ $FINDINGS -eq 0 ]]; then
        printf 'lab %s: passed\n' "${LAB%%-*}"
        exit 0
    fi
    printf 'lab %s: %d thing(s) still wrong (hints: %s)\n' "${LAB%%-*}" "$FINDINGS" \
        "${LAB_DIR#"$PORTCULLIS_ROOT"/}/hints.md"
    exit 1
}

lab_env() {
    local kv
    for kv in "$@"; do
        printf '%s=%q\n' "${kv%%=*}" "${kv#*=}" >>"$LAB_HOME/lab.env"
        export "${kv?}"
    done
}

lab_bg() {
    local name="$1"
    shift
    mkdir -p "$LAB_HOME/run"
    # setsid: the process outlives make, and is not stopped by the terminal's ^C meant for a check.
    setsid "$@" >"$LAB_HOME/run/$name.log" 2>&1 </dev/null &
    echo $! >"$LAB_HOME/run/$name.pid"
}

lab_running() { # NAME: is the lab's process NAME alive?
    local pid
    pid="$(cat "$LAB_HOME/run/$1.pid" 2>/dev/null)" || return 1
    lab_pid_alive "$pid"
}

lab_stop() {
    local f pid pids=()
    # Signal them all first, then wait: stopping takes the slowest one's time, not the sum.
    for f in "$LAB_HOME"/run/*.pid; do
        [[ -f $f ]] || continue
        pid="$(cat "$f")"
        kill "$pid" 2>/dev/null || true
        pids+=("$pid")
        rm -f "$f"
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 50); do lab_pid_alive "$pid" || break; sleep 0.1; done
    done
}

lab_wait_http() { # URL [curl args…]: up to 20 s
    local url="$1"
    shift
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$@" "$url" 2>/dev/null && return 0
        sleep 0.2
    done
    die "nothing answered at $url"
}

lab_registry() {
    if [[ -n ${REGISTRY:-} ]] && lab_running registry; then return 0; fi
    local port
    if [[ -n ${REGISTRY:-} ]]; then port="${REGISTRY##*:}"; else port="$(free_port)"; fi
    mkdir -p "$LAB_HOME/registry"
    registry_config "$LAB_HOME/run-registry.yml" "$LAB_HOME/registry" "127.0.0.1:$port"
    lab_bg registry docker-registry serve "$LAB_HOME/run-registry.yml"
    [[ -n ${REGISTRY:-} ]] || lab_env "REGISTRY=127.0.0.1:$port"
    lab_wait_http "http://$REGISTRY/v2/"
}

lab_yaml() {
    "$VENV/bin/python" -c '
import json, sys, yaml
try:
    with open(sys.argv[1]) as f:
        print(json.dumps([d for d in yaml.safe_load_all(f) if d is not None]))
except (OSError, yaml.YAMLError) as e:
    sys.exit(f"{sys.argv[1]}: {e}")
' "$1"
}

# lab_pod NAME IMAGE [SECURITY-CONTEXT-JSON] [RESOURCES-JSON]: a Pod in namespace "lab" as JSON.
lab_pod() {
    jq -n --arg name "$1" --arg image "$2" --argjson sc "${3:-{\}}" --argjson res "${4:-{\}}" '{
        apiVersion: "v1", kind: "Pod", metadata: {name: $name, namespace: "lab", labels: {app: $name}},
        spec: {containers: [{name: "app", image: $image, securityContext: $sc, resources: $res}]}}'
}

# lab_key_policy NAME IMAGES-GLOB PUBKEY-FILE [KEY-NAME]: a ClusterImagePolicy (YAML, on stdout)
# requiring a signature by the one public key in PUBKEY-FILE (named KEY-NAME, default NAME) for
# images matching IMAGES-GLOB. Append an `  attestations:` block to it for provenance requirements.
lab_key_policy() {
    cat <<EOF2
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: $1
spec:
  mode: enforce
  images: ["$2"]
  authorities:
    keys:
      - name: ${4:-$1}
        pem: |
EOF2
    sed 's/^/          /' "$3"
}

# lab_evaluate POLICY MANIFEST [NO-MATCH]: `portcullis evaluate --output json` of MANIFEST (a file)
# against POLICY, images verified in the lab's plain-HTTP registry. Sets EVAL_OUT (the JSON, or the
# error on bad input) and EVAL_RC: 0 admitted, 1 denied, 2 bad input. NO-MATCH (default warn, as
# `portcullis serve`) decides images no policy covers.
# shellcheck disable=SC2034 # EVAL_RC and EVAL_OUT are for the caller
lab_evaluate() {
    EVAL_RC=0
    EVAL_OUT="$("$LAB_BIN" evaluate --allow-http-registry --timeout 10s --no-match "${3:-warn}" \
        --output json --policy "$1" "$2" 2>&1)" || EVAL_RC=$?
}

# lab_reasons: the denial reasons of the last lab_evaluate, one per line.
lab_reasons() { jq -r '.reasons[]?.message' <<<"$EVAL_OUT" 2>/dev/null || printf '%s\n' "$EVAL_OUT"; }

# lab_warnings: its warnings (no-match, warn-mode findings), one per line.
lab_warnings() { jq -r '.warnings[]?' <<<"$EVAL_OUT" 2>/dev/null || true; }

# lab_tag_digest REPOSITORY TAG: the digest TAG points to now in the lab registry. Both the Docker
# and the OCI manifest types are accepted: asking for one only can make the registry convert the
# manifest, and answer another digest.
lab_tag_digest() {
    curl -fsSI "http://$REGISTRY/v2/$1/manifests/$2" \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        -H 'Accept: application/vnd.oci.image.index.v1+json' |
        tr -d '\r' | sed -n 's/^docker-content-digest: *//Ip'
}

# lab_pid_alive PID: is PID still running? An exited process that init has not reaped yet (a
# zombie: lab_bg's processes are init's children) has stopped, although `kill -0` still finds it.
lab_pid_alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [[ $(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) != Z ]]
}
