#!/usr/bin/env bash
# pipelines/validate/yamllint.sh: check "yamllint". yamllint -s (warnings fail too) over every
# YAML file of the tree, with .yamllint at its root.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
    [[ -f .yamllint ]] || { summary "no .yamllint in $ROOT"; return 1; }
    local n
    n="$(find . "${PRUNE[@]}" -o -type f \( -name '*.yaml' -o -name '*.yml' -o -name .yamllint \) -print | wc -l)"
    "$VENV/bin/yamllint" -s -c .yamllint . || { summary "$n YAML files, findings above"; return 1; }
    summary "$n YAML files"
}

main "$@"
