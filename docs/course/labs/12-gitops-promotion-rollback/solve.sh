#!/usr/bin/env bash
# Lab 12 reference solution: promote with the repository's own promotion stage (stage's digests
# into prod's overlay, as release.yml's promotion pull request does), commit; then roll back by
# reverting that commit, which pins 0.1.0's digests again and records why in the history.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source-path=SCRIPTDIR source=digests.sh
. "$LAB_DIR/digests.sh"
repo="$LAB_HOME/repo"
"$PORTCULLIS_ROOT/pipelines/stages/promote.sh" --env prod --root "$repo" --tag "$NEW_TAG" \
    --digest "jobs-api=$NEW_API" --digest "jobs-worker=$NEW_WORKER" jobs-api jobs-worker
git -C "$repo" commit -q -am "deploy(prod): promote $NEW_TAG (digests verified in stage)"
git -C "$repo" revert --no-edit HEAD >/dev/null
git -C "$repo" commit -q --amend -m "deploy(prod): roll back to $OLD_TAG: $NEW_TAG loses jobs" \
    -m "This reverts commit $(git -C "$repo" rev-parse HEAD~1)."
git -C "$repo" log --oneline -3
