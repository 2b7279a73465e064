#!/usr/bin/env bash
# pipelines/lint.sh: the Rust and Python linters, from one list (LINTERS below) that `make lint` and the
# pre-commit hooks (.pre-commit-config.yaml, one hook per name) both run.
#
#   pipelines/lint.sh            every linter, in order; exits non-zero if any fails
#   pipelines/lint.sh NAME...    only those (what each pre-commit hook calls)
#   pipelines/lint.sh --list     the names, one a line (the repository test that keeps the hooks
#                                and this list equal reads it)
#
# It installs nothing: `make lint` runs `make bootstrap` first (cargo-deny comes from there).
# cargo-deny checks licences, bans and sources offline against deny.toml; advisories need the
# network and run in the GitHub workflow only (`make audit`). ruff checks the project's Python
# (ruff.toml; pinned in pipelines/lib/venv.sh, which bootstrap installs). The fuzz targets
# (verifier/fuzz, their own workspace) are formatted alike; they build with nightly only, so
# `make fuzz` and the smoke in `make test` compile them. Manifest, shell and
# workflow linters are checks of pipelines/validate-manifests.sh (`make manifests`).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# "name|command": the command runs from the repository root.
LINTERS=(
    "rustfmt|cargo fmt --all -- --check"
    "rustfmt-fuzz|cargo fmt --manifest-path verifier/fuzz/Cargo.toml -- --check"
    "clippy|cargo clippy --workspace --all-targets --locked -- -D warnings"
    "cargo-deny|cargo deny --locked --offline check --hide-inclusion-graph licenses bans sources"
    "ruff|.work/venv/bin/ruff check --no-fix"
)

names() {
    local entry
    for entry in "${LINTERS[@]}"; do printf '%s\n' "${entry%%|*}"; done
}

command_of() {
    local entry
    for entry in "${LINTERS[@]}"; do
        if [[ ${entry%%|*} == "$1" ]]; then
            printf '%s\n' "${entry#*|}"
            return 0
        fi
    done
    return 1
}

main() {
    cd "$PORTCULLIS_ROOT"
    if [[ ${1:-} == --list ]]; then
        names
        return 0
    fi
    local -a chosen=("$@") failed=()
    [[ ${#chosen[@]} -gt 0 ]] || mapfile -t chosen < <(names)
    local name cmd
    for name in "${chosen[@]}"; do
        cmd="$(command_of "$name")" || die "unknown linter $name (known: $(names | paste -sd ' ' -))"
        log "$name: $cmd"
        # Word splitting is the point: each entry is a plain command line without quoting.
        # shellcheck disable=SC2086
        if ! $cmd; then
            failed+=("$name")
        fi
    done
    if [[ ${#failed[@]} -gt 0 ]]; then
        die "failed: ${failed[*]}"
    fi
    log "passed: ${chosen[*]}"
}

main "$@"
