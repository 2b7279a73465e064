#!/usr/bin/env bash
# .github/actions/sign/sign.sh: sign IMAGE@DIGEST, attach SLSA provenance (and an SBOM and a
# vulnerability report when given), then verify what was attached, the way a consumer would.
#
#   keyless (SIGN_MODE=keyless)  cosign sign / cosign attest with this job's GitHub OIDC identity
#                                (Fulcio certificate, Rekor entry); predicates from `portcullis
#                                provenance` and `portcullis predicate`; checked with cosign verify
#                                and verify-attestation against that exact identity.
#   key (SIGN_MODE=key)          portcullis sign / portcullis attest with the key in SIGN_KEY
#                                (cosign-format encrypted PEM; password SIGN_KEY_PASSWORD);
#                                checked with portcullis verify / verify-attestation against its
#                                public half.
#
# The provenance is written once, to $RUNNER_TEMP/portcullis-sign/<digest hex>/provenance.json
# (step outputs `provenance` and `artifact-name`), and that file is what gets attested; SIGN_PROVENANCE_PREDICATE
# attaches an existing predicate instead. Registry credentials: the job's docker login
# (${DOCKER_CONFIG:-~/.docker}/config.json), read by cosign and by portcullis alike.
#
# Environment (the action's inputs): SIGN_IMAGE, SIGN_DIGEST, SIGN_MODE, SIGN_KEY,
# SIGN_KEY_PASSWORD, SIGN_SBOM, SIGN_VULNERABILITY_REPORT, SIGN_PROVENANCE_PREDICATE,
# SIGN_BUILD_ARGS, SIGN_DEPENDENCIES (lines), SIGN_BUNDLE_FORMAT; PORTCULLIS_BIN (install.sh's),
# COSIGN (default: cosign on PATH), RUNNER_TEMP, GITHUB_OUTPUT.
#
# Every portcullis call is written `"$PORTCULLIS_BIN" SUBCOMMAND --flag …`, and flags gathered in
# an array go into one named SUBCOMMAND_flags: pipelines/validate/py/test_sign_action.py reads
# them from here and checks each against that subcommand's --help.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COSIGN="${COSIGN:-cosign}"
# mode key: the private key, written for the calls below and removed when the script exits.
KEY_FILE="$WORK/signing.key"

# lines TEXT: the non-blank lines of TEXT, trimmed.
lines() { sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^$/d' <<<"$1"; }

check_inputs() {
    need_env SIGN_IMAGE SIGN_DIGEST PORTCULLIS_BIN
    [[ $SIGN_IMAGE != *@* ]] || die "image: \"$SIGN_IMAGE\" holds a digest; give the name only (the digest input says what is signed)"
    [[ ${SIGN_IMAGE##*/} != *:* ]] ||
        die "image: \"$SIGN_IMAGE\" has a tag; give the name only: the digest is signed, never a tag"
    [[ $SIGN_IMAGE =~ ^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+$ ]] ||
        die "image: \"$SIGN_IMAGE\" is not an image name (registry/repository, the repository in lower case, e.g. ghcr.io/acme/app)"
    [[ $SIGN_DIGEST =~ ^sha256:[0-9a-f]{64}$ ]] ||
        die "digest: \"$SIGN_DIGEST\" is not sha256:<64 hex> (docker/build-push-action's digest output is)"
    case ${SIGN_MODE:-keyless} in
    keyless) [[ -z ${SIGN_KEY:-} ]] || die "mode keyless, but a key is given: set mode: key to sign with it" ;;
    key) [[ -n ${SIGN_KEY:-} ]] || die "mode key needs the key input (the private key's PEM, from a secret)" ;;
    *) die "mode: \"$SIGN_MODE\": say keyless or key" ;;
    esac
    case ${SIGN_BUNDLE_FORMAT:-classic} in
    classic | new) ;;
    *) die "bundle-format: \"$SIGN_BUNDLE_FORMAT\": say classic or new" ;;
    esac
    local name path
    for name in SIGN_SBOM SIGN_VULNERABILITY_REPORT SIGN_PROVENANCE_PREDICATE; do
        path="${!name:-}"
        [[ -z $path || -s $path ]] || die "$(input_name "$name"): no file $path (relative paths are from $PWD)"
    done
    if [[ -n ${SIGN_PROVENANCE_PREDICATE:-} && -n ${SIGN_BUILD_ARGS:-}${SIGN_DEPENDENCIES:-} ]]; then
        die "provenance-predicate attaches a finished predicate: build-args and dependencies would be ignored; drop them"
    fi
    local line
    while IFS= read -r line; do
        [[ $line == [A-Za-z_]*=* ]] || die "build-args: \"$line\" is not KEY=VALUE"
    done < <(lines "${SIGN_BUILD_ARGS:-}")
}

# input_name SIGN_FOO_BAR: the action input it comes from (foo-bar).
input_name() { local n="${1#SIGN_}"; n="${n,,}"; echo "${n//_/-}"; }

# write_provenance FILE: the SLSA v1 provenance predicate of this workflow run, from the GITHUB_*
# and RUNNER_* variables, with the build arguments and dependencies given.
write_provenance() {
    if [[ -n ${SIGN_PROVENANCE_PREDICATE:-} ]]; then
        cp "$SIGN_PROVENANCE_PREDICATE" "$1"
        log "provenance: $SIGN_PROVENANCE_PREDICATE, as given"
        return
    fi
    local line
    local -a provenance_flags=()
    while IFS= read -r line; do provenance_flags+=(--build-arg "$line"); done < <(lines "${SIGN_BUILD_ARGS:-}")
    while IFS= read -r line; do provenance_flags+=(--dependency "$line"); done < <(lines "${SIGN_DEPENDENCIES:-}")
    "$PORTCULLIS_BIN" provenance --from github "${provenance_flags[@]}" --output "$1" ||
        die "portcullis provenance failed"
    log "provenance: written by portcullis provenance --from github"
}

# predicate_type WHAT FILE OUT: `portcullis predicate --WHAT FILE` writes the predicate to attach
# to OUT and prints its cosign --type.
predicate_type() {
    local type
    case $1 in
    sbom) type="$("$PORTCULLIS_BIN" predicate --sbom "$2" --output "$3")" || die "sbom: $2 is not an SBOM portcullis can attach" ;;
    vuln) type="$("$PORTCULLIS_BIN" predicate --vuln "$2" --output "$3")" || die "vulnerability-report: $2 is not a Trivy or Grype JSON report" ;;
    esac
    [[ $type =~ ^(cyclonedx|spdxjson|vuln)$ ]] || die "portcullis predicate --$1 printed \"$type\", not a cosign predicate type"
    echo "$type"
}

# cosign_major: cosign's major version (2 when it does not say: Debian's builds print "devel").
cosign_major() {
    local v
    v="$("$COSIGN" version --json 2>/dev/null | jq -r '.gitVersion // empty' || true)"
    [[ $v =~ ^v([0-9]+)\. ]] && echo "${BASH_REMATCH[1]}" || echo 2
}

keyless() {
    local ref="$1" out="$2" identity type
    local -a format=() types=(slsaprovenance1)
    command -v "$COSIGN" >/dev/null || die "no cosign on PATH"
    identity="${GITHUB_SERVER_URL:-https://github.com}/$(oidc_claim job_workflow_ref)"
    case "${SIGN_BUNDLE_FORMAT:-classic}/$(cosign_major)" in
    classic/2) ;;
    classic/*) format=(--new-bundle-format=false) ;;
    new/2) die "bundle-format new in keyless mode needs cosign 3 (cosign-release: v3.x): cosign 2 signs images in the classic format only" ;;
    new/*) format=(--new-bundle-format=true) ;;
    esac

    "$COSIGN" sign --yes "${format[@]}" "$ref" || die "cosign sign failed for $ref"
    "$COSIGN" attest --yes "${format[@]}" --type slsaprovenance1 --predicate "$out/provenance.json" "$ref" ||
        die "cosign attest (provenance) failed for $ref"
    if [[ -n ${SIGN_SBOM:-} ]]; then
        type="$(predicate_type sbom "$SIGN_SBOM" "$out/sbom.predicate.json")"
        "$COSIGN" attest --yes "${format[@]}" --type "$type" --predicate "$out/sbom.predicate.json" "$ref" ||
            die "cosign attest (SBOM, $type) failed for $ref"
        types+=("$type")
    fi
    if [[ -n ${SIGN_VULNERABILITY_REPORT:-} ]]; then
        type="$(predicate_type vuln "$SIGN_VULNERABILITY_REPORT" "$out/vuln.predicate.json")"
        "$COSIGN" attest --yes "${format[@]}" --type "$type" --predicate "$out/vuln.predicate.json" "$ref" ||
            die "cosign attest (vulnerability report) failed for $ref"
        types+=("$type")
    fi

    local -a who=(--certificate-identity "$identity" --certificate-oidc-issuer "$OIDC_ISSUER")
    "$COSIGN" verify "${who[@]}" "$ref" >/dev/null || die "cosign verify does not accept what was just signed: $ref as $identity"
    for type in "${types[@]}"; do
        "$COSIGN" verify-attestation "${who[@]}" --type "$type" "$ref" >/dev/null ||
            die "cosign verify-attestation --type $type does not accept what was just attested on $ref"
    done
    log "$ref: signed keyless as $identity; attested ${types[*]}; verified with cosign"
    output certificate-identity "$identity"
}

keyed() {
    local ref="$1" out="$2" fmt="${SIGN_BUNDLE_FORMAT:-classic}" key="$KEY_FILE" pub="$WORK/signing.pub" type
    local -a types=(slsaprovenance1)
    trap 'rm -f "$KEY_FILE"' EXIT
    (umask 077 && printf '%s\n' "$SIGN_KEY" >"$key")
    export PORTCULLIS_PASSWORD="${SIGN_KEY_PASSWORD:-}" COSIGN_PASSWORD="${SIGN_KEY_PASSWORD:-}"

    "$PORTCULLIS_BIN" sign --key "$key" --bundle-format "$fmt" "$ref" || die "portcullis sign failed for $ref"
    "$PORTCULLIS_BIN" attest --key "$key" --bundle-format "$fmt" --type slsaprovenance1 \
        --predicate "$out/provenance.json" "$ref" || die "portcullis attest (provenance) failed for $ref"
    if [[ -n ${SIGN_SBOM:-} ]]; then
        "$PORTCULLIS_BIN" attest --key "$key" --bundle-format "$fmt" --sbom "$SIGN_SBOM" "$ref" ||
            die "portcullis attest --sbom failed for $ref"
        types+=("$(predicate_type sbom "$SIGN_SBOM" "$out/sbom.predicate.json")")
    fi
    if [[ -n ${SIGN_VULNERABILITY_REPORT:-} ]]; then
        "$PORTCULLIS_BIN" attest --key "$key" --bundle-format "$fmt" --vuln "$SIGN_VULNERABILITY_REPORT" "$ref" ||
            die "portcullis attest --vuln failed for $ref"
        types+=("$(predicate_type vuln "$SIGN_VULNERABILITY_REPORT" "$out/vuln.predicate.json")")
    fi

    command -v "$COSIGN" >/dev/null || die "no cosign on PATH (it derives the public key to verify with)"
    "$COSIGN" public-key --key "$key" --outfile "$pub" 2>/dev/null ||
        die "cosign public-key cannot read the key (wrong key-password, or not a cosign-format key)"
    "$PORTCULLIS_BIN" verify --key "$pub" "$ref" >/dev/null || die "portcullis verify does not accept what was just signed: $ref"
    for type in "${types[@]}"; do
        "$PORTCULLIS_BIN" verify-attestation --key "$pub" --type "$type" "$ref" >/dev/null ||
            die "portcullis verify-attestation --type $type does not accept what was just attested on $ref"
    done
    log "$ref: signed with the key ($fmt format); attested ${types[*]}; verified with portcullis"
    output certificate-identity ""
}

main() {
    check_inputs
    local ref="$SIGN_IMAGE@$SIGN_DIGEST" out="$WORK/${SIGN_DIGEST#sha256:}"
    rm -rf "$out" && mkdir -p "$out"
    local config="${DOCKER_CONFIG:-${HOME:-/nonexistent}/.docker}/config.json"
    if [[ -z ${PORTCULLIS_REGISTRY_CONFIG:-} && -f $config ]]; then
        export PORTCULLIS_REGISTRY_CONFIG="$config"
    fi
    write_provenance "$out/provenance.json"
    case ${SIGN_MODE:-keyless} in
    keyless) keyless "$ref" "$out" ;;
    key) keyed "$ref" "$out" ;;
    esac
    output digest "$SIGN_DIGEST"
    output provenance "$out/provenance.json"
    output artifact-name "provenance-${SIGN_DIGEST#sha256:}"
}

main "$@"
