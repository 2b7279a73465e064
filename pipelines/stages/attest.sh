#!/usr/bin/env bash
# Stage 6, attest: two signed in-toto attestations on each pushed digest. Usage: attest.sh [IMAGE...]
#
#   SLSA provenance v1 (--type slsaprovenance1), generated here from what the build stage recorded
#   ($PIPELINE_OUT/<image>/build.json and source.json), never typed by hand: the source repository,
#   commit and ref (and whether the tree was dirty), the Dockerfile and build arguments, the base
#   images resolved to digests, the builder (buildah version, flags, storage driver), the invoking
#   workflow, start and finish times. Written to $PIPELINE_OUT/<image>/provenance.json.
#   CycloneDX SBOM (--type cyclonedx): sbom.cdx.json from the sbom stage.
#
# Key-based with `portcullis attest`; with PIPELINE_KEYLESS=1 also keyless with `cosign attest`.
# The build type is documented in docs/images.md ("Provenance").
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/images.sh"

BUILD_TYPE="https://github.com/portcullis-dev/portcullis/blob/main/docs/images.md#provenance"

# The workflow that ran the pipeline: GitHub's (from GITHUB_WORKFLOW_REF) or the local script.
invocation_json() {
    if [[ -n ${GITHUB_WORKFLOW_REF:-} ]]; then
        local path="${GITHUB_WORKFLOW_REF#"$GITHUB_REPOSITORY"/}"
        jq -n --arg path "${path%@*}" --arg ref "${GITHUB_REF:-}" \
            --arg builder "https://github.com/actions/runner/${RUNNER_ENVIRONMENT:-github-hosted}" \
            --arg id "${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}/attempts/${GITHUB_RUN_ATTEMPT:-1}" \
            --arg event "${GITHUB_EVENT_NAME:-}" --arg repo_id "${GITHUB_REPOSITORY_ID:-}" \
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
    local name="$1" out
    out="$(image_out "$name")"
    jq -n --slurpfile b "$out/build.json" --argjson inv "$(invocation_json)" --arg type "$BUILD_TYPE" \
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
      }' >"$out/provenance.json"
}

main() {
    ensure_pipeline_key
    local -a images
    if [[ $# -gt 0 ]]; then images=("$@"); else mapfile -t images < <(pipeline_images); fi
    local name out pushed flags
    flags="$(portcullis_registry_flags)"
    for name in "${images[@]}"; do
        out="$(image_out "$name")"
        pushed="$(pushed_ref "$name")"
        [[ -s $out/sbom.cdx.json ]] || die "$name has no SBOM: run pipelines/stages/sbom.sh first"
        provenance "$name"
        # shellcheck disable=SC2086 # flags are words or nothing
        portcullis attest --key "$PIPELINE_KEY" $flags --type slsaprovenance1 \
            --predicate "$out/provenance.json" "$pushed" || die "attesting provenance for $pushed failed"
        # shellcheck disable=SC2086
        portcullis attest --key "$PIPELINE_KEY" $flags --type cyclonedx \
            --predicate "$out/sbom.cdx.json" "$pushed" || die "attesting the SBOM for $pushed failed"
        if [[ ${PIPELINE_KEYLESS:-0} == 1 ]]; then
            need_tool "$COSIGN_BIN"
            "$COSIGN_BIN" attest --yes --type slsaprovenance1 --predicate "$out/provenance.json" "$pushed" ||
                die "keyless cosign attest (provenance) failed for $pushed"
            "$COSIGN_BIN" attest --yes --type cyclonedx --predicate "$out/sbom.cdx.json" "$pushed" ||
                die "keyless cosign attest (SBOM) failed for $pushed"
        fi
        log "$name: attested SLSA provenance v1 (commit $(jq -r '.buildDefinition.resolvedDependencies[0].digest.gitCommit[:12]' "$out/provenance.json")," \
            "builder $(jq -r .runDetails.builder.id "$out/provenance.json")) and the CycloneDX SBOM"
    done
}

main "$@"
