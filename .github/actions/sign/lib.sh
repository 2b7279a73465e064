# shellcheck shell=bash disable=SC2034 # its variables are used by the scripts that source it
# .github/actions/sign/lib.sh: what install.sh and sign.sh share. Source it; it only defines:
#   log / die        one line on stdout / an error (a GitHub annotation in Actions) and exit 1
#   output K V       write the step output K=V to $GITHUB_OUTPUT (one line; V must not hold one)
#   need_env NAME... fail unless each variable is set
#   WORK             $RUNNER_TEMP/portcullis-sign: downloads, keys, predicates (never the workspace)
#   oidc_claim NAME  one claim of this job's GitHub OIDC token (needs `permissions: id-token: write`)
#   OIDC_ISSUER      GitHub Actions' OIDC issuer, as Fulcio certificates name it

log() { printf 'portcullis-sign: %s\n' "$*"; }

die() {
    if [[ ${GITHUB_ACTIONS:-} == true ]]; then
        printf '::error title=portcullis sign::%s\n' "$*" >&2
    else
        printf 'portcullis-sign: error: %s\n' "$*" >&2
    fi
    exit 1
}

output() {
    [[ $2 != *$'\n'* ]] || die "output $1: a value of several lines"
    printf '%s=%s\n' "$1" "$2" >>"${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set: run inside GitHub Actions or set it}"
}

need_env() {
    local name
    for name in "$@"; do
        [[ -n ${!name:-} ]] || die "$name is not set"
    done
}

need_env RUNNER_TEMP
WORK="$RUNNER_TEMP/portcullis-sign"
OIDC_ISSUER="https://token.actions.githubusercontent.com"

# oidc_claim NAME: the claim from a fresh OIDC token of this job. The token comes straight from the
# runner's token service and is only read here, never printed or kept.
oidc_claim() {
    [[ -n ${ACTIONS_ID_TOKEN_REQUEST_URL:-} && -n ${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-} ]] ||
        die "no OIDC token: the job needs \`permissions: id-token: write\` (for a reusable workflow, the caller's job grants it)"
    local token payload
    token="$(curl -fsS --retry 3 -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
        "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=sigstore" | jq -r .value)" ||
        die "the runner's OIDC token service did not answer"
    payload="$(cut -d. -f2 <<<"$token" | tr '_-' '/+')"
    while ((${#payload} % 4)); do payload+="="; done
    base64 -d <<<"$payload" | jq -er --arg c "$1" '.[$c] // empty' ||
        die "the OIDC token has no claim $1"
}
