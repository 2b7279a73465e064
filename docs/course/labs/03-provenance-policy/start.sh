#!/usr/bin/env bash
# Lab 03 start: the release key pair in the workspace, and five builds of lab/app in a loopback
# registry, all signed by that key, four with SLSA v1 provenance from different workflows, refs
# and repositories (files/builds.txt), one with none. Signatures and attestations are in cosign's
# classic tags, so cosign 2 can read them too.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
lab_registry
export PORTCULLIS_PASSWORD=lab03
"$LAB_BIN" keygen --output-key-prefix "$LAB_HOME/release" >/dev/null 2>&1

# provenance REPOSITORY REF PATH: a SLSA v1 predicate as a GitHub Actions build writes it.
provenance() {
    jq -n --arg repo "$1" --arg ref "$2" --arg path "$3" '{
        buildDefinition: {
            buildType: "https://actions.github.io/buildtypes/workflow/v1",
            externalParameters: {workflow: {repository: $repo, ref: $ref, path: $path}},
            internalParameters: {github: {event_name: "push"}},
            resolvedDependencies: [{uri: "git+\($repo)@\($ref)",
                digest: {gitCommit: "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"}}]},
        runDetails: {builder: {id: "https://github.com/actions/runner/github-hosted"},
            metadata: {invocationId: "\($repo)/actions/runs/1203"}}}'
}

mkdir -p "$LAB_HOME/run"
while read -r tag _ repo ref path; do
    [[ -z $tag || $tag == \#* ]] && continue
    image="$REGISTRY/lab/app:$tag"
    "$LAB_EXAMPLES/push_image" "$REGISTRY" lab/app "$tag" "lab03-$tag" >/dev/null
    "$LAB_BIN" sign --key "$LAB_HOME/release.key" --allow-http-registry --bundle-format classic \
        "$image" >/dev/null 2>&1
    [[ $repo == - ]] && continue
    provenance "$repo" "$ref" "$path" >"$LAB_HOME/run/provenance-$tag.json"
    "$LAB_BIN" attest --key "$LAB_HOME/release.key" --allow-http-registry --bundle-format classic \
        --type slsaprovenance1 --predicate "$LAB_HOME/run/provenance-$tag.json" "$image" >/dev/null 2>&1
    rm "$LAB_HOME/run/provenance-$tag.json"
done <"$LAB_DIR/files/builds.txt"
log "registry $REGISTRY holds lab/app:build-1 … build-5, signed by release.key (password lab03)"
