#!/usr/bin/env bash
# pipelines/validate/course-docs.sh: check "course-docs". Every repository path, link, `make`
# target and `portcullis` subcommand and flag that the course pages (docs/course/**/*.md: the
# module pages, the labs' READMEs and hints) name must exist: a student copies them as written.
# The rules are in py/course_docs.py; the CLI's subcommands and flags come from the binary's own
# `--help`, so a renamed flag fails here instead of in a lesson.
#   PORTCULLIS_BIN  the portcullis binary (default: a fresh debug build, as dogfood.sh)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
    local bin
    if [[ ! -d $ROOT/docs/course ]]; then
        echo "no docs/course folder in $ROOT"
        summary "no course pages to check"
        return 1
    fi
    bin="$(portcullis_bin)" || { echo "$bin"; summary "no portcullis binary"; return 1; }
    PY "$PY_DIR/course_docs.py" "$ROOT" "$bin"
}

main "$@"
