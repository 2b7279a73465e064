#!/usr/bin/env bash
# pipelines/validate/telemetry.sh: check "telemetry". observability/ vs
# deploy/infrastructure/telemetry, on the renderings (observability/checks/telemetry.py): generated
# chart values and prod's rules copy current; collector, Uptrace, Alloy and Loki-rule structure and
# the names, ports, labels and secrets they share; one OTLP endpoint everywhere. Every LogQL expr
# it collects goes through Grafana's grammar (@grafana/lezer-logql, npm, installed once into
# .work/tools/npm-lezer-logql) by observability/checks/logql-parse.mjs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LEZER_LOGQL_NPM_PIN="@grafana/lezer-logql@0.4.2"
NPM_DIR="$PORTCULLIS_WORK/tools/npm-lezer-logql"

# lezer_logql: prints the grammar's module, installing the pinned npm package once.
lezer_logql() {
    local lezer="$NPM_DIR/node_modules/@grafana/lezer-logql/index.es.js"
    command -v node >/dev/null || { echo "node is needed for the LogQL parser" >&2; return 1; }
    if [[ ! -f $lezer || "$(cat "$NPM_DIR/.pin" 2>/dev/null)" != "$LEZER_LOGQL_NPM_PIN" ]]; then
        mkdir -p "$NPM_DIR"
        npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" "$LEZER_LOGQL_NPM_PIN" >&2 ||
            { echo "npm install $LEZER_LOGQL_NPM_PIN failed" >&2; return 1; }
        echo "$LEZER_LOGQL_NPM_PIN" >"$NPM_DIR/.pin"
    fi
    printf '%s\n' "$lezer"
}

main() {
    need_renderings
    local out="$WORK/telemetry" lezer rc=0 stats
    rm -rf "$out" && mkdir -p "$out"
    echo "== observability/checks/telemetry.py"
    PY "$PORTCULLIS_ROOT/observability/checks/telemetry.py" check "$WORK/rendered" "$out/logql.json" | tee "$out/lint.log" || rc=1
    stats="$(sed -n 's/^stats: //p' "$out/lint.log")"
    echo "== LogQL syntax ($LEZER_LOGQL_NPM_PIN)"
    lezer="$(lezer_logql)" || { summary "${stats:-no stats}, no LogQL parser"; return 1; }
    if [[ -s $out/logql.json ]]; then
        LEZER_LOGQL="$lezer" node "$PORTCULLIS_ROOT/observability/checks/logql-parse.mjs" <"$out/logql.json" || rc=1
    else
        echo "no LogQL expressions collected"
        rc=1
    fi
    summary "${stats:-no stats}, LogQL parsed with $LEZER_LOGQL_NPM_PIN"
    return "$rc"
}

main "$@"
