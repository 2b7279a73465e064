#!/usr/bin/env bash
# .github/actions/sign/install.sh: the portcullis binary the sign step runs; prints its path as the
# step output `bin` (and `version`). One of:
#
#   a local binary   PORTCULLIS_BINARY=path (this repository's release workflow, before any release
#                    exists): copied, made executable, run once.
#   a release        PORTCULLIS_VERSION (default: the workspace version in the Cargo.toml beside
#                    this action, i.e. the release that ships it) from the GitHub release of tag
#                    v<version> of the repository that Cargo.toml names:
#                      portcullis-<version>-x86_64-unknown-linux-gnu.tar.gz, SHA256SUMS,
#                      SHA256SUMS.sigstore.json
#                    SHA256SUMS must carry a keyless signature (Sigstore bundle) by that repository's
#                    .github/workflows/release.yml on refs/tags/v<version> (cosign verify-blob),
#                    the archive must match its line there (sha256sum -c), and, when
#                    PORTCULLIS_SHA256 is set, that sha256 too.
#
# Environment: GITHUB_ACTION_PATH, RUNNER_TEMP, GITHUB_OUTPUT; GITHUB_SERVER_URL (default
# https://github.com); COSIGN (default: cosign on PATH).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TARGET="x86_64-unknown-linux-gnu"
COSIGN="${COSIGN:-cosign}"

# workspace_field NAME: the quoted value of NAME in the [workspace.package] of the Cargo.toml at
# this action's commit.
workspace_field() {
    local toml="${GITHUB_ACTION_PATH:-$(dirname "${BASH_SOURCE[0]}")}/../../../Cargo.toml"
    [[ -f $toml ]] || die "no Cargo.toml beside this action ($toml): set portcullis-version"
    sed -n "s/^$1 *= *\"\\(.*\\)\"\$/\\1/p" "$toml" | head -n 1
}

# run_once BIN: BIN runs and says its version.
run_once() {
    "$1" --version 2>&1 | head -n 1 || die "$1 does not run on this runner ($(uname -sm))"
}

local_binary() {
    local src="$1" bin="$WORK/bin/portcullis"
    [[ -f $src ]] || die "portcullis-binary: no file $src"
    mkdir -p "$WORK/bin"
    cp "$src" "$bin" && chmod 755 "$bin"
    log "local binary $src: $(run_once "$bin")"
    output bin "$bin"
    output version "$("$bin" --version | awk '{print $2}')"
}

release() {
    local version="$1" pin="$2" repository url identity archive dir sums line
    repository="$(workspace_field repository)"
    [[ $repository =~ ^https://github\.com/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)$ ]] ||
        die "the Cargo.toml beside this action names no GitHub repository (repository = \"$repository\")"
    repository="${BASH_REMATCH[1]}"
    [[ ${RUNNER_OS:-Linux} == Linux && ${RUNNER_ARCH:-X64} == X64 ]] ||
        die "portcullis releases ship for $TARGET only; this runner is ${RUNNER_OS:-?}/${RUNNER_ARCH:-?} (use portcullis-binary)"
    [[ -z $pin || $pin =~ ^[0-9a-f]{64}$ ]] || die "portcullis-sha256: \"$pin\" is not 64 lower-case hex digits"

    archive="portcullis-$version-$TARGET.tar.gz"
    dir="$WORK/release-$version"
    url="${GITHUB_SERVER_URL:-https://github.com}/$repository/releases/download/v$version"
    identity="https://github.com/$repository/.github/workflows/release.yml@refs/tags/v$version"
    rm -rf "$dir" && mkdir -p "$dir"
    for f in "$archive" SHA256SUMS SHA256SUMS.sigstore.json; do
        curl -fsSL --retry 3 -o "$dir/$f" "$url/$f" ||
            die "cannot download $url/$f (is v$version a release of $repository?)"
    done

    command -v "$COSIGN" >/dev/null || die "no cosign on PATH to check the release's signature"
    "$COSIGN" verify-blob --bundle "$dir/SHA256SUMS.sigstore.json" \
        --certificate-identity "$identity" --certificate-oidc-issuer "$OIDC_ISSUER" "$dir/SHA256SUMS" >&2 ||
        die "SHA256SUMS of v$version is not signed by $identity"
    log "SHA256SUMS: signed by $identity"

    sums="$dir/$archive.sha256"
    grep -E "^[0-9a-f]{64} [ *]$archive\$" "$dir/SHA256SUMS" >"$sums" || true
    [[ $(wc -l <"$sums") -eq 1 ]] || die "SHA256SUMS of v$version has no single line for $archive"
    (cd "$dir" && sha256sum --quiet -c "$sums" >&2) || die "$archive does not match SHA256SUMS of v$version"
    if [[ -n $pin ]]; then
        line="$(sha256sum "$dir/$archive" | cut -d' ' -f1)"
        [[ $line == "$pin" ]] || die "$archive has sha256 $line, not the pinned portcullis-sha256 $pin"
        log "$archive: matches the pinned sha256"
    fi
    log "$archive: matches SHA256SUMS"

    tar -xzf "$dir/$archive" -C "$dir"
    local bin="$dir/portcullis-$version-$TARGET/portcullis"
    [[ -x $bin ]] || die "$archive holds no portcullis-$version-$TARGET/portcullis"
    line="$(run_once "$bin")"
    [[ $line == "portcullis $version" || $line == "portcullis $version "* ]] ||
        die "the binary of $archive says \"$line\", not portcullis $version"
    log "installed $line"
    output bin "$bin"
    output version "$version"
}

main() {
    if [[ -n ${PORTCULLIS_BINARY:-} ]]; then
        [[ -z ${PORTCULLIS_VERSION:-}${PORTCULLIS_SHA256:-} ]] ||
            die "portcullis-binary is given: drop portcullis-version and portcullis-sha256, which choose a release"
        local_binary "$PORTCULLIS_BINARY"
        return
    fi
    local version="${PORTCULLIS_VERSION:-}"
    [[ -n $version ]] || version="$(workspace_field version)"
    version="${version#v}"
    [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
        die "portcullis-version: \"$version\" is not a release version (X.Y.Z)"
    release "$version" "${PORTCULLIS_SHA256:-}"
}

main "$@"
