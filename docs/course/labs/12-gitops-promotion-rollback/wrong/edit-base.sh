#!/usr/bin/env bash
# A plausible wrong answer: "one place for the version": the new digest goes into the base, and
# prod's own image entries are dropped so the base's apply. The base is every environment's.
# expect: edits deploy/base
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source-path=SCRIPTDIR source=../digests.sh
. "$LAB_DIR/digests.sh"
repo="$LAB_HOME/repo"
base="$repo/deploy/base/workloads/kustomization.yaml"
prod="$repo/deploy/overlays/prod/workloads-plain/kustomization.yaml"
sed -i -e "s|^    newTag: $OLD_TAG$|    newTag: $NEW_TAG|" "$base"
sed -i -e "\\|name: $IMAGE_API\$|a\\    digest: $NEW_API" -e "\\|name: $IMAGE_WORKER\$|a\\    digest: $NEW_WORKER" "$base"
sed -i '/^images:$/,/^patches:$/{/^images:$/d;/^  - name: /d;/^    newTag: /d;/^    digest: /d}' "$prod"
grep -q "digest: $NEW_API" "$base"
git -C "$repo" commit -q -am "deploy: release $NEW_TAG"
git -C "$repo" revert --no-edit HEAD >/dev/null
