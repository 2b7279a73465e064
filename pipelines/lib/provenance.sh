# shellcheck shell=bash
# pipelines/lib/provenance.sh: the SLSA provenance v1 predicate of a built image, and the facts of
# the release workflow run it describes. Source it after lib/common.sh and lib/images.sh.
#
#   provenance NAME FILE     writes the predicate for image NAME from what the build stage
#                            recorded ($PIPELINE_OUT/NAME/build.json, sbom.cdx.json) and the
#                            invocation: GitHub's GITHUB_*/RUNNER_* variables when set, else the
#                            local script. Used by stages/attest.sh.
#   release_workflow         the workflow file (under .github/workflows) that runs
#                            pipelines/release.sh
#   release_identity         the keyless identity that workflow signs with on the tag
#                            v<workspace version>: https://github.com/OWNER/REPO/.github/
#                            workflows/FILE@refs/tags/vX.Y.Z
#   as_release CMD...        runs CMD with the GITHUB_*/RUNNER_* facts that workflow's run on
#                            that tag would have (GitHub-hosted runner, push event), and an
#                            invocation id that says it is a local rehearsal. The admission
#                            replay uses it to test the shipped policies against provenance
#                            shaped exactly like a release's; everything so produced is signed
#                            only by throwaway keys and a private test Sigstore.
# The build type is documented in docs/images.md ("Provenance").

PROVENANCE_BUILD_TYPE="https://github.com/portcullis-dev/portcullis/blob/main/docs/images.md#provenance"

# The workflow that ran the pipeline: GitHub's (from GITHUB_WORKFLOW_REF) or the local script.
invocation_json() {
    if [[ -n ${GITHUB_WORKFLOW_REF:-} ]]; then
        local path="${GITHUB_WORKFLOW_REF#"$GITHUB_REPOSITORY"/}"
        local id="${PIPELINE_INVOCATION_ID:-${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}/attempts/${GITHUB_RUN_ATTEMPT:-1}}"
        jq -n --arg path "${path%@*}" --arg ref "${GITHUB_REF:-}" \
            --arg builder "https://github.com/actions/runner/${RUNNER_ENVIRONMENT:-github-hosted}" \
            --arg id "$id" --arg event "${GITHUB_EVENT_NAME:-}" --arg repo_id "${GITHUB_REPOSITORY_ID:-}" \
            --arg owner_id "${GITHUB_REPOSITORY_OWNER_ID:-}" --arg runner "${RUNNER_ENVIRONMENT:-}" \
            '{path: $path, ref: $ref, builder: $builder, invocationId: $id,
              github: {event_name: $event, repository_id: $repo_id, repository_owner_id: $owner_id,
                       runner_environment: $runner}}'
    else
        jq -n --arg host "$(hostname -f 2>/dev/null || hostname)" --arg id "local:$(cat /proc/sys/kernel/random/uuid)" \
            '{path: "pipelines/pipeline.sh", ref: null, builder: "local://\($host)/pipelines/pipeline.sh",
              invocationId: $id, github: null}'
    fi
}

provenance() {
    local name="$1" file="$2" out
    out="$(image_out "$name")"
    jq -n --slurpfile b "$out/build.json" --argjson inv "$(invocation_json)" --arg type "$PROVENANCE_BUILD_TYPE" \
        --arg sbom "sha256:$(sha256sum "$out/sbom.cdx.json" | cut -d' ' -f1)" '
      $b[0] as $b | $b.source as $s |
      def dep($x): {name: $x.arg, uri: "oci://\($x.ref | sub("@sha256:.*$"; ""))",
                    digest: {sha256: ($x.digest | ltrimstr("sha256:"))},
                    annotations: {origin: $x.origin}};
      {
        buildDefinition: {
          buildType: $type,
          externalParameters: {
            workflow: {repository: $s.repository, ref: ($inv.ref // $s.ref), path: $inv.path},
            source: {repository: $s.repository, ref: $s.ref, commit: $s.commit, dirty: $s.dirty},
            image: {name: $b.name, dockerfile: $b.dockerfile, tags: $b.tags},
            buildArgs: $b.buildArgs
          },
          internalParameters: ({
            sourceDateEpoch: $s.sourceDateEpoch,
            context: {digest: $s.contextDigest, files: $s.contextFiles},
            builder: $b.builder,
            reproducibility: (if $b.rebuildDigest then {rebuiltDigest: $b.rebuildDigest,
                              identical: ($b.rebuildDigest == $b.digest)} else null end)
          } + (if $inv.github then {github: $inv.github} else {} end)),
          resolvedDependencies: ([{
            uri: "git+\($s.repository)@\($s.ref)",
            digest: {gitCommit: $s.commit},
            annotations: {dirty: $s.dirty, contextDigest: $s.contextDigest}
          }] + [$b.bases[] | dep(.)])
        },
        runDetails: {
          builder: {id: $inv.builder, version: {buildah: $b.builder.version}},
          metadata: {invocationId: $inv.invocationId, startedOn: $b.startedOn, finishedOn: $b.finishedOn},
          byproducts: [{name: "sbom.cdx.json", digest: {sha256: ($sbom | ltrimstr("sha256:"))},
                        mediaType: "application/vnd.cyclonedx+json"}]
        }
      }' >"$file"
}

release_workflow() {
    local f found=()
    for f in "$PORTCULLIS_ROOT"/.github/workflows/*.y*ml; do
        ! grep -q 'pipelines/release\.sh' "$f" || found+=("$(basename "$f")")
    done
    [[ ${#found[@]} -eq 1 ]] || die "expected one workflow running pipelines/release.sh, found: ${found[*]:-none}"
    echo "${found[0]}"
}

# OWNER/REPO of the repository URL (Cargo.toml's, or GitHub's when running there).
repository_slug() { source_repository | sed 's|^https://github.com/||'; }

release_identity() {
    echo "https://github.com/$(repository_slug)/.github/workflows/$(release_workflow)@refs/tags/v$(workspace_version)"
}

as_release() {
    local slug tag
    slug="$(repository_slug)"
    tag="v$(workspace_version)"
    GITHUB_SERVER_URL=https://github.com GITHUB_REPOSITORY="$slug" \
        GITHUB_WORKFLOW_REF="$slug/.github/workflows/$(release_workflow)@refs/tags/$tag" \
        GITHUB_REF="refs/tags/$tag" GITHUB_EVENT_NAME=push RUNNER_ENVIRONMENT=github-hosted \
        PIPELINE_INVOCATION_ID="local-rehearsal:$(cat /proc/sys/kernel/random/uuid)" "$@"
}
