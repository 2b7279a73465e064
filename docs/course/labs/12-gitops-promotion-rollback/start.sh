#!/usr/bin/env bash
# Lab 12 start: a git repository holding the workloads' part of deploy/ (base, the canary
# component, the stage and prod overlays, and the Flux entry points that apply them). Release
# 0.2.0 runs in stage, pinned by digest; prod runs 0.1.0, pinned by digest too. The digests are
# written with the repository's own promotion stage (pipelines/stages/promote.sh), as release.yml
# does, and committed once: that commit is where the history the check reads begins.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source-path=SCRIPTDIR source=digests.sh
. "$LAB_DIR/digests.sh"

repo="$LAB_HOME/repo"
mkdir -p "$repo/deploy/overlays/stage" "$repo/deploy/overlays/prod" "$repo/deploy/base" \
    "$repo/deploy/components" "$repo/deploy/clusters/stage" "$repo/deploy/clusters/prod"
cp -a "$PORTCULLIS_ROOT/deploy/base/workloads" "$repo/deploy/base/"
cp -a "$PORTCULLIS_ROOT/deploy/components/canary-rollout" "$repo/deploy/components/"
for env in stage prod; do
    cp -a "$PORTCULLIS_ROOT/deploy/overlays/$env/workloads" "$PORTCULLIS_ROOT/deploy/overlays/$env/workloads-plain" \
        "$repo/deploy/overlays/$env/"
    cp "$PORTCULLIS_ROOT/deploy/clusters/$env/apps.yaml" "$repo/deploy/clusters/$env/"
done

promote() { # ENV TAG API-DIGEST WORKER-DIGEST
    "$PORTCULLIS_ROOT/pipelines/stages/promote.sh" --env "$1" --root "$repo" --tag "$2" \
        --digest "jobs-api=$3" --digest "jobs-worker=$4" jobs-api jobs-worker >/dev/null
}
promote prod "$OLD_TAG" "$OLD_API" "$OLD_WORKER"
promote stage "$NEW_TAG" "$NEW_API" "$NEW_WORKER"

git -C "$repo" init -q -b main
git -C "$repo" config user.name "Lab student"
git -C "$repo" config user.email "student@portcullis.dev"
git -C "$repo" add -A
git -C "$repo" commit -q -m "deploy: stage runs $NEW_TAG, prod runs $OLD_TAG (both pinned by digest)"
lab_env "START_COMMIT=$(git -C "$repo" rev-parse HEAD)"
