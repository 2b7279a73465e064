#!/usr/bin/env bash
# pipelines/validate/shellcheck.sh: check "shellcheck". shellcheck -x over every *.sh of the tree.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
    local scripts=()
    mapfile -t scripts < <(find . "${PRUNE[@]}" -o -type f -name '*.sh' -print | sort)
    [[ ${#scripts[@]} -gt 0 ]] || { summary "no scripts found"; return 1; }
    "$VENV/bin/shellcheck" -x "${scripts[@]}" || { summary "${#scripts[@]} scripts, findings above"; return 1; }
    summary "${#scripts[@]} scripts"
}

main "$@"
