# shellcheck shell=bash
# pipelines/lib/compose-checks.sh: what pipelines/compose-smoke.sh proves about the running
# compose stack. Source it after lib/common.sh and lib/engine.sh; it only defines functions.
#
# Each check_* function runs in a subshell with errexit, talks to the stack only through the
# ports compose.yaml publishes on 127.0.0.1 (and `docker compose` for container state), bounds
# every wait, and prints one last line: what it found (the summary table shows it). A check fails
# with a non-zero status and that line saying why. Nothing here starts or stops a service.
#
# Inputs (set by compose-smoke.sh): REGISTRY_PORT WEBHOOK_PORT WEBHOOK_ADMIN_PORT JOBS_API_PORT
# JOBS_API_ADMIN_PORT JOBS_WORKER_ADMIN_PORT, TLS_CA (the CA compose-init.sh made), SMOKE_DIR
# (scratch files), COMPOSE_JSON (`docker compose config --format json`), OCI_PORTCULLIS (an OCI
# layout to push to the registry).

# fail MESSAGE...: the check's verdict line (on stderr, so it reaches the log from inside a
# command substitution too), and a failure.
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    return 1
}

# wait_http URL SECONDS [curl args...]: until URL answers 2xx; prints the body. Bounded.
wait_http() {
    local url="$1" secs="$2" deadline
    shift 2
    deadline=$((SECONDS + secs))
    while ((SECONDS < deadline)); do
        if curl -fsS --max-time 3 "$@" "$url" 2>/dev/null; then return 0; fi
        sleep 0.5
    done
    local last
    last="$(curl -sS --max-time 3 -w '\nHTTP %{http_code}' "$@" "$url" 2>&1 | grep -v '^\[+\]' | paste -sd' ' | cut -c1-160)"
    fail "no 2xx from $url within $secs s; last answer: $last"
}

# container_of SERVICE: the (possibly exited) container of SERVICE.
container_of() {
    local id
    id="$(dc ps -aq "$1")"
    [[ -n $id ]] || fail "no container for service $1"
    echo "$id"
}

check_registry() {
    local oci="$OCI_PORTCULLIS" repo="127.0.0.1:$REGISTRY_PORT/smoke/portcullis" want got
    wait_http "http://127.0.0.1:$REGISTRY_PORT/v2/" 30 -o /dev/null
    want="$(jq -r '.manifests[0].digest' "$oci/index.json")"
    skopeo copy --quiet --dest-tls-verify=false "oci:$oci" "docker://$repo:compose" ||
        fail "skopeo copy to $repo:compose failed"
    # Both Accept headers, so the registry never converts the manifest (machine notes: schema1 trap).
    got="$(curl -fsS --max-time 10 -o /dev/null -D - \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://127.0.0.1:$REGISTRY_PORT/v2/smoke/portcullis/manifests/compose" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')"
    [[ $got == "$want" ]] || fail "pushed $want, the registry serves ${got:-nothing} for $repo:compose"
    echo "pushed the portcullis image, read back ${want:0:19} on 127.0.0.1:$REGISTRY_PORT"
}

check_postgres() {
    local id status version
    id="$(container_of postgres)"
    status="$(docker inspect -f '{{.State.Health.Status}}' "$id")"
    [[ $status == healthy ]] || fail "postgres health is '$status' (healthcheck: $(jq -c '.services.postgres.healthcheck.test' <<<"$COMPOSE_JSON"))"
    version="$(docker exec "$id" postgres --version)"
    echo "healthy (pg_isready over TCP); $version"
}

check_migrate() {
    local id code
    id="$(container_of migrate)"
    code="$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$id")"
    [[ $code == "exited 0" ]] || fail "migrate is '$code', expected exited 0: $(docker logs --tail 3 "$id" 2>&1)"
    echo "exited 0: $(docker logs "$id" 2>&1 |
        jq -Rr 'fromjson? | select(.message == "Migrations complete") | "migrations applied: \(.applied)"' | head -n 1)"
}

# The policy files compose.yaml's webhook command names (--policy=FILE or --policy FILE).
compose_policy_files() {
    jq -r '.services.webhook.command as $c | range(0; $c | length) as $i
        | if ($c[$i] | startswith("--policy=")) then $c[$i][9:]
          elif $c[$i] == "--policy" then $c[$i + 1] else empty end' <<<"$COMPOSE_JSON"
}

check_webhook_ready() {
    local body files want
    body="$(wait_http "http://127.0.0.1:$WEBHOOK_ADMIN_PORT/readyz" 60)"
    mapfile -t files < <(compose_policy_files)
    want=${#files[@]}
    ((want > 0)) || fail "compose.yaml's webhook command names no --policy file"
    if ! grep -qE "^\[\+\]policies ok: [1-9][0-9]* policies from $want file\(s\)" <<<"$body"; then
        fail "compose.yaml names $want policy files; /readyz says: $(grep policies <<<"$body" | head -n 1)"
    fi
    if grep -q '^\[!\]' <<<"$body"; then fail "/readyz reports an error: $(grep '^\[!\]' <<<"$body")"; fi
    echo "/readyz 200: $(grep -o 'policies ok: [^,]*, *[^,]*' <<<"$body" | sed 's/, loaded.*//')"
}

# pod NAME SECURITY-CONTEXT: a Pod that meets restricted and the resource guardrails, except for
# what SECURITY-CONTEXT says.
pod() {
    jq -n --arg name "$1" --argjson sc "$2" '{
        apiVersion: "v1", kind: "Pod", metadata: {name: $name, namespace: "smoke", labels: {app: $name}},
        spec: {securityContext: {runAsNonRoot: true, seccompProfile: {type: "RuntimeDefault"}},
          containers: [{name: "app", image: "127.0.0.1:5000/smoke/app:1.0", securityContext: $sc,
            resources: {requests: {cpu: "100m", memory: "64Mi"}, limits: {cpu: "200m", memory: "128Mi"}}}]}}'
}

# review PATH UID POD-JSON: POSTs an AdmissionReview for POD to the webhook's published TLS port,
# verifying the server against compose-init.sh's CA, the way the API server calls it; prints the
# response review after checking it answers UID.
review() {
    local path="$1" uid="$2" pod="$3" file
    file="$SMOKE_DIR/$uid"
    jq -n --arg uid "$uid" --argjson pod "$pod" '{apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
        request: {uid: $uid, kind: {group: "", version: "v1", kind: "Pod"},
          resource: {group: "", version: "v1", resource: "pods"}, namespace: "smoke", name: $pod.metadata.name,
          operation: "CREATE", userInfo: {username: "compose-smoke", groups: ["system:authenticated"]},
          object: $pod, dryRun: false}}' >"$file.request.json"
    curl -fsS --max-time 15 --cacert "$TLS_CA" --resolve "localhost:$WEBHOOK_PORT:127.0.0.1" \
        -H 'Content-Type: application/json' --data-binary "@$file.request.json" \
        "https://localhost:$WEBHOOK_PORT$path?timeout=10s" >"$file.response.json" ||
        fail "POST https://localhost:$WEBHOOK_PORT$path (CA ${TLS_CA#"$PORTCULLIS_ROOT"/}) failed"
    [[ "$(jq -r .response.uid "$file.response.json")" == "$uid" ]] ||
        fail "the response does not answer uid $uid: $(head -c 300 "$file.response.json")"
    cat "$file.response.json"
}

RESTRICTED_SC='{"runAsNonRoot": true, "runAsUser": 10001, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}'

check_admit_compliant() {
    local resp
    resp="$(review /validate smoke-compliant "$(pod compliant "$RESTRICTED_SC")")"
    [[ "$(jq -r .response.allowed <<<"$resp")" == true ]] ||
        fail "a compliant Pod was denied: $(jq -r '.response.status.message' <<<"$resp" | head -n 1)"
    echo "allowed over TLS (verified against the compose CA), warnings: $(jq -r '.response.warnings // [] | length' <<<"$resp")"
}

check_deny_privileged() {
    local resp msg
    resp="$(review /validate smoke-privileged "$(pod privileged "$(jq -c '. + {privileged: true}' <<<"$RESTRICTED_SC")")")"
    [[ "$(jq -r .response.allowed <<<"$resp")" == false ]] || fail "a privileged Pod was allowed"
    msg="$(jq -r '.response.status.message' <<<"$resp")"
    grep -q 'pod-security-restricted/privileged: container "app" (spec.containers\[0\].securityContext.privileged)' <<<"$msg" ||
        fail "denied, but not for privileged: $msg"
    echo "denied: $(head -n 1 <<<"$msg" | cut -c1-90)"
}

check_mutate_defaults() {
    local resp ops
    resp="$(review /mutate smoke-bare "$(jq -n '{apiVersion: "v1", kind: "Pod", metadata: {name: "bare", namespace: "smoke"},
        spec: {containers: [{name: "app", image: "127.0.0.1:5000/smoke/app:1.0"}]}}')")"
    [[ "$(jq -r .response.allowed <<<"$resp")" == true ]] || fail "/mutate denied a bare Pod: $(jq -c .response.status <<<"$resp")"
    ops="$(jq -r '.response.patch // empty | @base64d | fromjson | map(.path) | join(" ")' <<<"$resp")"
    [[ $ops == *securityContext* && $ops == *resources* ]] ||
        fail "expected secure-defaults to patch securityContext and resources, patch paths: '${ops:-none}'"
    echo "patched: $(jq -r '.response.patch | @base64d | fromjson | length' <<<"$resp") operations (securityContext, resources)"
}

check_workloads_ready() {
    wait_http "http://127.0.0.1:$JOBS_API_ADMIN_PORT/readyz" 60 -o /dev/null
    wait_http "http://127.0.0.1:$JOBS_WORKER_ADMIN_PORT/readyz" 60 -o /dev/null
    echo "jobs-api and jobs-worker /readyz 200"
}

check_job() {
    local api="http://127.0.0.1:$JOBS_API_PORT" created id status="" deadline
    created="$(curl -fsS --max-time 10 -H 'Content-Type: application/json' \
        --data '{"kind": "hash", "payload": "compose smoke"}' -w '\n%{http_code}' "$api/v1/jobs")" ||
        fail "POST $api/v1/jobs failed"
    [[ "$(tail -n 1 <<<"$created")" == 201 ]] || fail "POST /v1/jobs answered $(tail -n 1 <<<"$created"), expected 201"
    id="$(head -n 1 <<<"$created" | jq -r .id)"
    [[ $id =~ ^[0-9a-f-]{36}$ ]] || fail "POST /v1/jobs returned no job id: $(head -n 1 <<<"$created")"
    deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        curl -fsS --max-time 5 "$api/v1/jobs/$id" >"$SMOKE_DIR/job.json" || fail "GET /v1/jobs/$id failed"
        status="$(jq -r .status "$SMOKE_DIR/job.json")"
        [[ $status == queued || $status == running ]] || break
        sleep 0.5
    done
    [[ $status == succeeded ]] ||
        fail "job $id is '$status' after the wait, last error: $(jq -r '.lastError // "none"' "$SMOKE_DIR/job.json")"
    [[ "$(jq -r '.result != null and .completedAt != null' "$SMOKE_DIR/job.json")" == true ]] ||
        fail "job $id succeeded without a result or completedAt: $(cat "$SMOKE_DIR/job.json")"
    echo "job ${id:0:8} queued -> succeeded by the worker in $(jq -r .attempts "$SMOKE_DIR/job.json") attempt(s)"
}

check_down() {
    timeout 120 "${COMPOSE_CMD[@]}" down -v --timeout 15 || fail "docker compose down -v failed or took over 120 s"
    local f left
    f="label=com.docker.compose.project=$(jq -r .name <<<"$COMPOSE_JSON")"
    left="$(docker ps -aq --filter "$f") $(docker volume ls -q --filter "$f") $(docker network ls -q --filter "$f")"
    [[ -z ${left// /} ]] || fail "left behind after down -v: $left"
    echo "containers, volumes and the project network removed"
}
