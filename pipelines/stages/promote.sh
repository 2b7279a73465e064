#!/usr/bin/env bash
# Stage 8, promote: write the verified digests into the next environment's overlays, so that what
# runs there is exactly what was verified. Usage:
#   promote.sh --env stage [--root DIR] [--tag TAG] [IMAGE...]
#
# For every `images:` entry naming the image (ghcr.io/portcullis-dev/<image>) in the kustomizations
# under DIR/deploy/overlays/ENV, sets `digest: sha256:...` (and, with --tag, `newTag`, keeping the
# Flux setter marker comment). Kustomize then renders `name:tag@sha256:...`; the runtime pulls by
# digest. The edit is textual, so comments and markers survive. Each touched overlay is rendered
# afterwards to prove the digest is what comes out.
#
# DIR defaults to a scratch copy of the repository's deploy/ under .work (the committed files are
# only changed with --root "$PORTCULLIS_ROOT", as release.yml does on its promotion branch).
# Only images the verify stage passed are promoted.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/images.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/images.sh"

usage() { die "usage: promote.sh --env ENV [--root DIR] [--tag TAG] [--digest NAME=sha256:...]... [IMAGE...]"; }

# set_digest FILE UPSTREAM DIGEST TAG: edits the images entry for UPSTREAM in FILE; prints what
# changed ("unchanged" when it was already there). Fails when FILE has no such entry.
set_digest() {
    python3 - "$@" <<'PYEOF'
import re, sys
path, name, digest, tag = sys.argv[1:5]
lines = open(path).read().split("\n")
out, i, found, changed = [], 0, False, []
while i < len(lines):
    line = lines[i]
    m = re.match(r"^(\s*)- name:\s*(\S+)\s*(#.*)?$", line)
    if not (m and m.group(2) == name):
        out.append(line); i += 1; continue
    found = True
    indent = m.group(1) + "  "
    out.append(line); i += 1
    block = []
    while i < len(lines) and lines[i].startswith(indent) and not lines[i].lstrip().startswith("- "):
        block.append(lines[i]); i += 1
    keys = {re.match(r"\s*(\w+):", b).group(1): n for n, b in enumerate(block) if re.match(r"\s*\w+:", b)}
    def put(key, value):
        new = f"{indent}{key}: {value}"
        if key in keys:
            old = block[keys[key]]
            comment = re.search(r"\s+#.*$", old)
            new += comment.group(0) if comment else ""
            if old != new:
                changed.append(f"{key}: {old.split(':', 1)[1].split('#')[0].strip()} -> {value}")
                block[keys[key]] = new
        else:
            block.append(new); keys[key] = len(block) - 1
            changed.append(f"{key}: (none) -> {value}")
    if tag:
        put("newTag", tag)
    put("digest", digest)
    out.extend(block)
if not found:
    sys.exit(f"{path}: no images entry for {name}")
open(path, "w").write("\n".join(out))
print("; ".join(changed) if changed else "unchanged")
PYEOF
}

main() {
    local env="" root="" tag=""
    local -a images=() overrides=()
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --env) env="${2:-}"; shift 2 || usage ;;
        --root) root="${2:-}"; shift 2 || usage ;;
        --tag) tag="${2:-}"; shift 2 || usage ;;
        --digest) overrides+=("${2:-}"); shift 2 || usage ;;
        -*) usage ;;
        *) images+=("$1"); shift ;;
        esac
    done
    [[ -n $env ]] || usage
    if [[ -z $root ]]; then
        root="$PIPELINE_OUT/promote-root"
        rm -rf "$root" && mkdir -p "$root"
        cp -a "$PORTCULLIS_ROOT/deploy" "$root/deploy"
        log "promoting into a scratch copy: ${root#"$PORTCULLIS_ROOT"/}/deploy"
    fi
    local overlays="$root/deploy/overlays/$env"
    [[ -d $overlays ]] || die "no overlays for environment '$env' at $overlays"
    [[ ${#images[@]} -gt 0 ]] || mapfile -t images < <(pipeline_images)

    local name digest upstream f o what touched=() kustomizations=()
    mapfile -t kustomizations < <(find "$overlays" -name kustomization.yaml | sort)
    for name in "${images[@]}"; do
        digest=""
        for o in "${overrides[@]}"; do [[ ${o%%=*} != "$name" ]] || digest="${o#*=}"; done
        if [[ -z $digest ]]; then
            [[ -s "$(image_out "$name")/verified" ]] ||
                die "$name has not passed the verify stage: refusing to promote it"
            digest="$(image_digest "$name")"
        fi
        [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || die "$name: '$digest' is not a sha256 digest"
        upstream="$(image_upstream "$name")"
        local hits=0
        for f in "${kustomizations[@]}"; do
            grep -qE "^\s*- name:\s*$upstream\s*(#.*)?$" "$f" || continue
            what="$(set_digest "$f" "$upstream" "$digest" "$tag")" || die "editing $f failed"
            log "$name: ${f#"$root"/}: $what"
            touched+=("$(dirname "$f")")
            hits=$((hits + 1))
        done
        [[ $hits -gt 0 ]] || die "$name: no kustomization under deploy/overlays/$env sets an image for $upstream"
    done

    # Render every overlay of the environment (a touched one may be included by another) and check
    # that each promoted image comes out pinned.
    local dir rendered
    for dir in $(find "$overlays" -name kustomization.yaml -exec dirname {} \; | sort -u); do
        rendered="$(kubectl kustomize "$dir")" || die "kubectl kustomize ${dir#"$root"/} failed after promotion"
        for name in "${images[@]}"; do
            upstream="$(image_upstream "$name")"
            if grep -E "image: ${upstream}[:@]" <<<"$rendered" | grep -qv '@sha256:'; then
                die "${dir#"$root"/} still renders $upstream without a digest"
            fi
        done
    done
    log "rendered deploy/overlays/$env: $(printf '%s\n' "${touched[@]}" | sort -u | wc -l) overlay(s) changed, every promoted image pinned by digest"
}

main "$@"
