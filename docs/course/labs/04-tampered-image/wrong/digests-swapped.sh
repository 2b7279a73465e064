#!/usr/bin/env bash
# A plausible wrong answer: the Deployment is pinned right, but incident.md has the two digests
# the wrong way round (the tag's digest taken for the release).
# expect: signed-digest
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
sed -i 's/^signed-digest:/x-digest:/; s/^tampered-digest:/signed-digest:/; s/^x-digest:/tampered-digest:/' "$LAB_HOME/incident.md"
