#!/usr/bin/env bash
# A plausible wrong answer: "promote 0.2.0" by changing prod's tag and dropping the digest, then
# revert. Prod would run whatever 0.2.0 points to on the day it pulls, not what stage verified.
# expect: by tag
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source-path=SCRIPTDIR source=../digests.sh
. "$LAB_DIR/digests.sh"
repo="$LAB_HOME/repo"
f="$repo/deploy/overlays/prod/workloads-plain/kustomization.yaml"
sed -i -e "s/newTag: $OLD_TAG /newTag: $NEW_TAG /" -e '/^    digest: sha256:/d' "$f"
git -C "$repo" commit -q -am "deploy(prod): promote $NEW_TAG"
git -C "$repo" revert --no-edit HEAD >/dev/null
