#!/usr/bin/env bash
# A plausible wrong answer: the promotion is right, but the "rollback" deletes prod's image
# entries so the base's 0.1.0 applies again: a tag, not the digest prod ran before.
# expect: by tag, not by digest
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source-path=SCRIPTDIR source=../digests.sh
. "$LAB_DIR/digests.sh"
repo="$LAB_HOME/repo"
prod="$repo/deploy/overlays/prod/workloads-plain/kustomization.yaml"
"$PORTCULLIS_ROOT/pipelines/stages/promote.sh" --env prod --root "$repo" --tag "$NEW_TAG" \
    --digest "jobs-api=$NEW_API" --digest "jobs-worker=$NEW_WORKER" jobs-api jobs-worker
git -C "$repo" commit -q -am "deploy(prod): promote $NEW_TAG"
sed -i '/^images:$/,/^patches:$/{/^images:$/d;/^  - name: /d;/^    newTag: /d;/^    digest: /d;/^    # yamllint/d}' "$prod"
git -C "$repo" commit -q -am "deploy(prod): roll back (use the base's version)"
