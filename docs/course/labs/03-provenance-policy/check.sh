#!/usr/bin/env bash
# Lab 03 check: the student's policy.yaml, evaluated by portcullis on a Pod of each build in the
# registry (files/builds.txt), admits only the release build and denies every other; one line per
# build decided wrongly, saying where its provenance came from.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
policy="$LAB_HOME/policy.yaml"
lab_registry # again, if it was stopped since the start

# origin REPOSITORY REF PATH: where a build's provenance says it came from, in words.
origin() {
    if [[ $1 == - ]]; then echo "signed, no provenance"; else echo "provenance: $3 of $1 on $2"; fi
}

if [[ ! -f $policy ]]; then
    finding "no policy.yaml in the workspace: write a ClusterImagePolicy for $REGISTRY/lab/ images"
    check_done
fi
if ! docs="$(lab_yaml "$policy" 2>&1)"; then
    finding "policy.yaml does not parse: $docs"
    check_done
fi
if ! jq -e 'any(.[]; .kind == "ClusterImagePolicy")' <<<"$docs" >/dev/null; then
    finding "policy.yaml holds no ClusterImagePolicy (found kinds: $(jq -r '[.[].kind] | join(", ")' <<<"$docs"))"
    check_done
fi

mkdir -p "$LAB_HOME/run"
while read -r tag verdict repo ref path; do
    [[ -z $tag || $tag == \#* ]] && continue
    pod="$LAB_HOME/run/check-$tag.json"
    lab_pod "app-$tag" "$REGISTRY/lab/app:$tag" >"$pod"
    lab_evaluate "$policy" "$pod"
    case "$EVAL_RC/$verdict" in
        0/admit | 1/deny) ;;
        1/admit)
            finding "lab/app:$tag ($(origin "$repo" "$ref" "$path")) was denied, but it is the release build: $(lab_reasons | head -n 1)"
            ;;
        0/deny)
            why="your policy must deny it"
            lab_warnings | grep -q 'no ClusterImagePolicy matches' &&
                why="no ClusterImagePolicy matches it: spec.images must cover every image under $REGISTRY/lab/"
            finding "lab/app:$tag ($(origin "$repo" "$ref" "$path")) was admitted: $why"
            ;;
        *)
            finding "portcullis cannot load policy.yaml: $EVAL_OUT"
            check_done
            ;;
    esac
done <"$LAB_DIR/files/builds.txt"
check_done
