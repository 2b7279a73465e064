#!/usr/bin/env bash
# Lab 06 check: the Deployment is admitted in namespace reports by the repository's guardrails
# (resource-limits, secure-defaults, image-hygiene from policies/library, and the namespace's own
# files/reports-bounds.yaml, never copies in the workspace); it is still the same workload with
# the resources its team says it needs, once the webhook's defaults are applied; no request is
# above its limit (evaluate does not judge that: the API server refuses such pods); and
# log-shipper.yaml says what the log-shipper container really runs with.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
manifest="$LAB_HOME/deployment.yaml"
library="$PORTCULLIS_ROOT/policies/library"
original="$(lab_yaml "$LAB_DIR/files/deployment.yaml")"

if ! docs="$(lab_yaml "$manifest" 2>&1)"; then
    finding "deployment.yaml does not parse: $docs"
    check_done
fi
deployment="$(jq -c '[.[] | select(.kind == "Deployment" and .metadata.name == "report-builder")] | .[0] // empty' <<<"$docs")"
if [[ -z $deployment ]]; then
    finding "deployment.yaml has no Deployment named report-builder any more"
    check_done
fi
ns="$(jq -r '.metadata.namespace // "default"' <<<"$deployment")"
[[ $ns == reports ]] ||
    finding "report-builder is in namespace $ns: it runs in reports, under that namespace's guardrails (moving it does not make it fit)"

# Still the same workload: every container of the original, with its image.
while IFS=$'\t' read -r list name image; do
    have="$(jq -r --arg l "$list" --arg n "$name" '.spec.template.spec[$l][]? | select(.name == $n) | .image' <<<"$deployment")"
    if [[ -z $have ]]; then
        finding "the container $name is gone from spec.template.spec.$list: the report needs it"
    elif [[ $have != "$image" ]]; then
        finding "container $name runs $have, not the team's image $image"
    fi
done < <(jq -r '.[0].spec.template.spec | (.initContainers[] | ["initContainers", .name, .image]),
    (.containers[] | ["containers", .name, .image]) | @tsv' <<<"$original")

# What admission says, with the repository's policies.
rc=0
out="$("$LAB_BIN" evaluate --policy "$library/resource-limits.yaml" --policy "$library/secure-defaults.yaml" \
    --policy "$library/image-hygiene.yaml" --policy "$LAB_DIR/files/reports-bounds.yaml" \
    --no-match allow --output json <(jq -c . <<<"$deployment") 2>&1)" || rc=$?
case $rc in
    0) ;;
    1) while IFS= read -r reason; do finding "$reason"; done < <(jq -r '.reasons[]?.message' <<<"$out") ;;
    *) finding "portcullis evaluate cannot read deployment.yaml: $out" ;;
esac

# What the webhook's defaults make of it (mutation only), then the intent and the record.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
jq -c . <<<"$deployment" >"$work/written.json"
if "$LAB_BIN" evaluate --policy "$library/secure-defaults.yaml" --no-match allow --show-patches --output json \
    "$work/written.json" >"$work/defaults.json" 2>&1 &&
    jq -e '.patchedObject' "$work/defaults.json" >/dev/null; then
    jq '.patchedObject' "$work/defaults.json" >"$work/mutated.json"
    intent="$("$VENV/bin/python" "$LAB_DIR/intent.py" "$work/written.json" "$work/mutated.json" \
        "$LAB_HOME/log-shipper.yaml")" || die "intent.py failed (a check bug, not yours)"
    while IFS= read -r line; do [[ -z $line ]] || finding "$line"; done <<<"$intent"
else
    finding "the webhook's defaults cannot be applied to deployment.yaml: $(cat "$work/defaults.json")"
fi
check_done
