#!/usr/bin/env bash
# pipelines/validate/observability.sh: check "observability". observability/: promtool check and
# test rules, amtool check-config and the route tests (alertmanager/route-tests.txt), then
# py/obs_lint.py (labels, annotations, each alert's runbook docs/runbooks/<alert>.md and no runbook
# without its alert, every alert firing and quiet in a unit test, dashboards and their expressions
# through promtool, the PrometheusRule equal to the rule files and valid against its CRD schema).
# promtool/amtool: the ones on PATH, else Debian's (prometheus 2.42, prometheus-alertmanager 0.25)
# taken out of the .deb into .work/tools/prometheus: `apt-get download` + `dpkg-deb`, nothing is
# installed and no service is started.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OBS_TOOLS="$PORTCULLIS_WORK/tools/prometheus"

# obs_tool NAME PACKAGE: prints the path of NAME, extracting it from PACKAGE's .deb once.
obs_tool() {
    local name="$1" pkg="$2" dl="$OBS_TOOLS/download"
    if command -v "$name" >/dev/null; then
        command -v "$name"
        return 0
    fi
    if [[ ! -x $OBS_TOOLS/usr/bin/$name ]]; then
        echo "extracting $name from the Debian package $pkg into ${OBS_TOOLS#"$PORTCULLIS_ROOT"/} (once)" >&2
        rm -rf "$dl" && mkdir -p "$dl"
        if ! (cd "$dl" && apt-get download "$pkg") >&2; then
            # No package lists yet (fresh machine): refresh them, as root, and try once more.
            as_root apt-get -q update >&2
            (cd "$dl" && apt-get download "$pkg") >&2 || { echo "apt-get download $pkg failed" >&2; return 1; }
        fi
        dpkg-deb --fsys-tarfile "$dl"/"$pkg"_*.deb | tar -x -C "$OBS_TOOLS" "./usr/bin/$name" ||
            { echo "no usr/bin/$name in $pkg" >&2; return 1; }
        rm -rf "$dl"
    fi
    echo "$OBS_TOOLS/usr/bin/$name"
}

# alert_routes AMTOOL CONFIG TESTS: each "receiver label=value..." line of TESTS must route there.
alert_routes() {
    local amtool="$1" config="$2" recv labels
    while read -r recv labels; do
        [[ -z $recv || $recv == \#* ]] && continue
        routes=$((routes + 1))
        # shellcheck disable=SC2086 # one argument per label
        "$amtool" config routes test --config.file="$config" --verify.receivers="$recv" $labels >/dev/null 2>&1 ||
            { echo "route: {$labels} should go to $recv"; bad=$((bad + 1)); }
    done <"$3"
}

main() {
    local obs="$ROOT/observability" out="$WORK/observability" promtool amtool stats
    bad=0 routes=0
    promtool="$(obs_tool promtool prometheus)" || { summary "no promtool"; return 1; }
    amtool="$(obs_tool amtool prometheus-alertmanager)" || { summary "no amtool"; return 1; }
    rm -rf "$out" && mkdir -p "$out"
    echo "== promtool check rules"
    "$promtool" check rules "$obs"/prometheus/rules/*.yml || bad=$((bad + 1))
    echo "== promtool test rules"
    "$promtool" test rules "$obs"/prometheus/tests/*.yml || bad=$((bad + 1))
    echo "== amtool check-config and routes"
    "$amtool" check-config "$obs/alertmanager/alertmanager.yml" || bad=$((bad + 1))
    alert_routes "$amtool" "$obs/alertmanager/alertmanager.yml" "$obs/alertmanager/route-tests.txt"
    echo "== lint, dashboards, PrometheusRule"
    kubectl kustomize "$obs" >"$out/prometheusrule.yaml" || bad=$((bad + 1))
    PY "$PY_DIR/obs_lint.py" "$ROOT" "$out" "$SCHEMAS/crds/monitoring.coreos.com/prometheusrule_v1.json" |
        tee "$out/lint.log" || bad=$((bad + 1))
    stats="$(sed -n 's/^stats: //p' "$out/lint.log")"
    "$promtool" check rules "$out/dashboard-exprs.yml" || { echo "dashboard expressions do not parse"; bad=$((bad + 1)); }
    if [[ -f $out/prometheusrule_v1.json ]]; then
        if [[ ! -f $out/prometheusrule.json ]]; then
            : # the rendering failed, already counted
        elif "$VENV/bin/check-jsonschema" --schemafile "$out/prometheusrule_v1.json" "$out/prometheusrule.json"; then
            stats+=", PrometheusRule schema-valid"
        else
            bad=$((bad + 1))
        fi
    elif [[ ${CI:-} == true ]]; then
        echo "no PrometheusRule schema under $SCHEMAS"
        bad=$((bad + 1))
    else
        echo "PrometheusRule NOT schema-checked: no schema under $SCHEMAS"
        stats+=", PrometheusRule schema NOT checked"
    fi
    local versions
    versions="$({ "$promtool" --version; "$amtool" --version; } 2>&1 | awk '/, version / { sub(",", "", $1); printf " %s %s", $1, $3 }')"
    summary "$stats, $routes routes, $bad problem(s);$versions"
    [[ $bad -eq 0 ]]
}

main "$@"
