# shellcheck shell=bash
# pipelines/lib/provenance.sh: the SLSA provenance v1 predicate of a built image, and the facts of
# the release workflow run it describes. Source it after lib/common.sh and lib/images.sh.
#
#   provenance NAME FILE     writes the predicate for image NAME with `portcullis provenance`,
#                            from what the build stage recorded ($PIPELINE_OUT/NAME/build.json,
#                            sbom.cdx.json) and the invocation: GitHub's GITHUB_*/RUNNER_*
#                            variables when GITHUB_WORKFLOW_REF is set, else the local script.
#                            Used by stages/attest.sh and the rehearsal.
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

provenance() {
    local name="$1" file="$2" b
    b="$(image_out "$name")/build.json"
    local -a args=(--build-type "$PROVENANCE_BUILD_TYPE" --commit "$(jq -r .source.commit "$b")"
        --started-on "$(jq -r .startedOn "$b")" --finished-on "$(jq -r .finishedOn "$b")"
        --builder-version "buildah=$(jq -r .builder.version "$b")"
        --byproduct "$(image_out "$name")/sbom.cdx.json"
        --external-parameter "source=$(jq -c '.source | {repository, ref, commit, dirty}' "$b")"
        --external-parameter "image=$(jq -c '{name, dockerfile, tags}' "$b")"
        --internal-parameter "sourceDateEpoch=$(jq -c .source.sourceDateEpoch "$b")"
        --internal-parameter "context=$(jq -c '.source | {digest: .contextDigest, files: .contextFiles}' "$b")"
        --internal-parameter "builder=$(jq -c .builder "$b")"
        --internal-parameter "baseOrigins=$(jq -c '[.bases[] | {key: .arg, value: .origin}] | from_entries' "$b")"
        --internal-parameter "reproducibility=$(jq -c 'if .rebuildDigest then {rebuiltDigest: .rebuildDigest,
            identical: (.rebuildDigest == .digest)} else null end' "$b")")
    local line
    while IFS= read -r line; do args+=(--build-arg "$line"); done < <(jq -r '.buildArgs | to_entries[] | "\(.key)=\(.value)"' "$b")
    while IFS= read -r line; do args+=(--dependency "$line"); done < <(jq -r '.bases[] |
        "\(.arg)=oci://\(.ref | sub("@sha256:.*$"; ""))@\(.digest)"' "$b")
    if [[ -n ${GITHUB_WORKFLOW_REF:-} ]]; then
        # The repository, ref, workflow path and run come from GitHub's variables.
        args+=(--from github --builder-id "https://github.com/actions/runner/${RUNNER_ENVIRONMENT:-github-hosted}")
        [[ -z ${PIPELINE_INVOCATION_ID:-} ]] || args+=(--invocation-id "$PIPELINE_INVOCATION_ID")
    else
        local ref
        ref="$(jq -r '.source.ref // empty' "$b")"
        [[ -z $ref ]] || args+=(--ref "$ref")
        args+=(--from flags --repository "$(jq -r .source.repository "$b")"
            --workflow-path pipelines/pipeline.sh --invocation-id "local:$(cat /proc/sys/kernel/random/uuid)"
            --builder-id "local://$(hostname -f 2>/dev/null || hostname)/pipelines/pipeline.sh")
    fi
    portcullis provenance "${args[@]}" -o "$file"
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
