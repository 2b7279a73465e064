#!/usr/bin/env bash
# Lab 05 check: the Deployment passes the shipped Pod Security "restricted" policy (the repository's
# copy, not one in the workspace) and is still the same workload: same image, same port, and the
# cache still mounted at /var/cache/jobs.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
manifest="$LAB_HOME/deployment.yaml"
original="$(lab_yaml "$LAB_DIR/files/deployment.yaml")"

if ! docs="$(lab_yaml "$manifest" 2>&1)"; then
    finding "deployment.yaml does not parse: $docs"
    check_done
fi
deployment="$(jq -c '[.[] | select(.kind == "Deployment" and .metadata.name == "jobs-api")] | .[0] // empty' <<<"$docs")"
if [[ -z $deployment ]]; then
    finding "deployment.yaml has no Deployment named jobs-api any more"
    check_done
fi

# Still the same workload.
want_image="$(jq -r '.[0].spec.template.spec.containers[0].image' <<<"$original")"
api="$(jq -c '.spec.template.spec.containers[]? | select(.name == "api")' <<<"$deployment")"
if [[ -z $api ]]; then
    finding "the container named api is gone"
else
    [[ "$(jq -r .image <<<"$api")" == "$want_image" ]] ||
        finding "container api runs $(jq -r .image <<<"$api"), not the team's image $want_image"
    jq -e '[.ports[]? | select(.containerPort == 8080)] | length == 1' <<<"$api" >/dev/null ||
        finding "container api no longer declares containerPort 8080"
    mount="$(jq -r '.volumeMounts[]? | select(.mountPath == "/var/cache/jobs") | .name' <<<"$api")"
    if [[ -z $mount ]]; then
        finding "nothing is mounted at /var/cache/jobs any more: the API needs its cache directory (use a volume that restricted allows)"
    elif ! jq -e --arg v "$mount" '.spec.template.spec.volumes[]? | select(.name == $v)' <<<"$deployment" >/dev/null; then
        finding "the volume $mount mounted at /var/cache/jobs is not declared under spec.template.spec.volumes"
    fi
fi

# What admission would say, with the policy as shipped.
rc=0
out="$("$LAB_BIN" evaluate --policy "$PORTCULLIS_ROOT/policies/library/pod-security-restricted.yaml" \
    --no-match allow --output json "$manifest" 2>&1)" || rc=$?
case $rc in
    0) ;;
    1)
        reasons="$(jq -r '.reasons[]?.message' <<<"$out")" || die "portcullis evaluate printed no JSON: $out"
        [[ -n $reasons ]] || die "portcullis evaluate denied deployment.yaml without a reason: $out"
        while IFS= read -r reason; do finding "$reason"; done <<<"$reasons"
        ;;
    *) finding "portcullis evaluate cannot read deployment.yaml: $out" ;;
esac
check_done
