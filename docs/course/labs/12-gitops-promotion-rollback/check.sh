#!/usr/bin/env bash
# Lab 12 check: the history of the workspace's repository, rendered the way Flux renders it
# (kubectl kustomize of deploy/overlays/<env>/workloads at each commit since the start):
#   - some commit promotes prod to stage's digests (both images, pinned by digest, not by tag);
#   - a later commit rolls prod back: at HEAD prod renders the digests it ran before, still pinned;
#   - stage renders exactly as it did at the start, and no commit touches base/ or components/;
#   - nothing is left uncommitted (Flux applies only what is committed).
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source-path=SCRIPTDIR source=digests.sh
. "$LAB_DIR/digests.sh"
repo="$LAB_HOME/repo"
: "${START_COMMIT:?no START_COMMIT in lab.env: make lab-start LAB=12}"

if ! git -C "$repo" rev-parse -q --verify HEAD >/dev/null 2>&1; then
    finding "repo/ is no longer a git repository with commits (make lab-start LAB=12 gives a fresh one)"
    check_done
fi
if ! git -C "$repo" merge-base --is-ancestor "$START_COMMIT" HEAD 2>/dev/null; then
    finding "HEAD does not descend from the start commit ${START_COMMIT:0:7}: the history was rewritten; GitOps keeps it (commit forward, revert, never reset)"
    check_done
fi
dirty="$(git -C "$repo" status --porcelain -- deploy | awk '{print $2}' | paste -sd ' ')"
[[ -z $dirty ]] || finding "uncommitted changes in $dirty: Flux applies only what is committed; commit them (or git checkout them)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# render COMMIT ENV: the rendered overlay of ENV at COMMIT, into $tmp/COMMIT-ENV.yaml (cached).
render() {
    local out="$tmp/$1-$2.yaml"
    if [[ ! -f $out ]]; then
        mkdir -p "$tmp/$1"
        [[ -d $tmp/$1/deploy ]] || git -C "$repo" archive "$1" deploy | tar -x -C "$tmp/$1"
        kubectl kustomize "$tmp/$1/deploy/overlays/$2/workloads" >"$out" 2>"$out.err" || return 1
    fi
    cat "$out"
}
# refs COMMIT ENV IMAGE: every distinct reference to IMAGE in the render, one a line.
refs() { render "$1" "$2" | sed -n "s|^ *image: \($3[:@].*\)$|\1|p" | sort -u; }
# pinned_to COMMIT ENV IMAGE DIGEST: every reference to IMAGE carries DIGEST.
pinned_to() {
    local r
    r="$(refs "$1" "$2" "$3")" || return 1
    [[ -n $r ]] && ! grep -qv "@$4\$" <<<"$r"
}
short() { git -C "$repo" log -1 --format='%h "%s"' "$1"; }

mapfile -t commits < <(git -C "$repo" rev-list --reverse "$START_COMMIT..HEAD")
head="$(git -C "$repo" rev-parse HEAD)"
if [[ ${#commits[@]} -eq 0 ]]; then
    finding "no commit since the start: promote stage's $NEW_TAG to prod (commit), then roll prod back (commit)"
    check_done
fi
for c in "${commits[@]}"; do
    render "$c" prod >/dev/null || finding "kubectl kustomize deploy/overlays/prod/workloads fails at commit $(short "$c"): $(cat "$tmp/$c-prod.yaml.err")"
    render "$c" stage >/dev/null || finding "kubectl kustomize deploy/overlays/stage/workloads fails at commit $(short "$c"): $(cat "$tmp/$c-stage.yaml.err")"
done
[[ $FINDINGS -eq 0 ]] || check_done

# Base and components are shared by every environment.
while IFS= read -r c; do
    [[ -n $c ]] || continue
    finding "commit $(short "$c") edits $(git -C "$repo" diff-tree --no-commit-id --name-only -r "$c" -- deploy/base deploy/components | tr '\n' ' ')- the base is shared by every environment (stage, and dev too): promote and roll back in deploy/overlays/prod only"
done < <(git -C "$repo" rev-list "$START_COMMIT..HEAD" -- deploy/base deploy/components)

# Stage is not part of this change.
if ! cmp -s <(render "$START_COMMIT" stage) <(render "$head" stage); then
    finding "stage no longer renders as it did at the start (it runs $(refs "$head" stage "$IMAGE_API" | tr '\n' ' ')): the promotion and the rollback are prod's only"
fi

# The promotion: a commit where prod runs stage's digests.
promoted=""
for c in "${commits[@]}"; do
    if pinned_to "$c" prod "$IMAGE_API" "$NEW_API" && pinned_to "$c" prod "$IMAGE_WORKER" "$NEW_WORKER"; then
        promoted="$c"
        break
    fi
done
if [[ -z $promoted ]]; then
    said=0
    for c in "${commits[@]}"; do
        for img in "$IMAGE_API" "$IMAGE_WORKER"; do
            while IFS= read -r r; do
                case $r in
                    *:"$NEW_TAG"@"$OLD_API" | *:"$NEW_TAG"@"$OLD_WORKER")
                        finding "commit $(short "$c") renders prod's ${img##*/} as $r: the tag says $NEW_TAG but the digest is still $OLD_TAG's, and the runtime pulls by digest: set the digest to stage's"
                        said=1
                        ;;
                    *:"$NEW_TAG")
                        finding "commit $(short "$c") promotes prod's ${img##*/} by tag ($r), not by digest: a tag can be moved; pin stage's digest (digest: in the overlay's images entry)"
                        said=1
                        ;;
                esac
            done < <(refs "$c" prod "$img")
        done
        [[ $said -eq 0 ]] || break
    done
    if pinned_to "$head" prod "$IMAGE_API" "$NEW_API" || pinned_to "$head" prod "$IMAGE_WORKER" "$NEW_WORKER"; then
        finding "only one of jobs-api and jobs-worker was promoted: stage runs both at $NEW_TAG; promote both in one commit"
    elif [[ $said -eq 0 ]]; then
        finding "no commit promotes prod to stage's digests (jobs-api@${NEW_API:0:19}…, jobs-worker@${NEW_WORKER:0:19}…): copy them from deploy/overlays/stage into prod's overlay and commit"
    fi
fi

# The rollback: HEAD runs the digests prod ran before, still pinned.
for img in "$IMAGE_API" "$IMAGE_WORKER"; do
    if [[ $img == "$IMAGE_API" ]]; then old="$OLD_API" new="$NEW_API"; else old="$OLD_WORKER" new="$NEW_WORKER"; fi
    r="$(refs "$head" prod "$img" | tr '\n' ' ')"
    if pinned_to "$head" prod "$img" "$old"; then
        continue
    elif grep -q '@sha256:' <<<"$r" && ! grep -qE "(^| )[^ @]+( |$)" <<<"$r"; then
        if pinned_to "$head" prod "$img" "$new"; then
            [[ -z $promoted ]] || finding "prod still runs ${img##*/} $NEW_TAG ($new) at HEAD: the release is bad, roll prod back to the digest it ran before ($old)"
        else
            finding "prod renders ${img##*/} as ${r% }: neither $OLD_TAG's digest ($old) nor $NEW_TAG's"
        fi
    else
        finding "prod renders ${img##*/} as ${r% } at HEAD: by tag, not by digest; a rollback pins the previous digest ($old) again (git revert the promotion), it does not drop the override"
    fi
done
check_done
