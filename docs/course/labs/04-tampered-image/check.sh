#!/usr/bin/env bash
# Lab 04 check: deployment.yaml runs lab/app pinned by digest, and the team policy (the copy
# start.sh kept, not the workspace's) admits it, which only the team-signed digest passes;
# incident.md records that digest and the one lab/app:1.0 points to now.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
lab_registry # again, if it was stopped since the start
team_pub="$LAB_HOME/run/team.pub"
team_policy="$LAB_HOME/run/team-policy.yaml"
tag_digest="$(lab_tag_digest lab/app 1.0)"
pinned=""

# team_signed DIGEST: does the team key verify a signature of lab/app@DIGEST?
team_signed() {
    "$LAB_BIN" verify --allow-http-registry --timeout 10s --key "$team_pub" "$REGISTRY/lab/app@$1" >/dev/null 2>&1
}

check_deployment() {
    local manifest="$LAB_HOME/deployment.yaml" docs image name
    if ! docs="$(lab_yaml "$manifest" 2>&1)"; then
        finding "deployment.yaml does not parse: $docs"
        return
    fi
    image="$(jq -r '[.[] | select(.kind == "Deployment" and .metadata.name == "app")][0].spec.template.spec.containers[]? | select(.name == "app") | .image' <<<"$docs")"
    if [[ -z $image ]]; then
        finding "deployment.yaml has no Deployment app with a container app any more"
        return
    fi
    if [[ $image != *@sha256:* ]]; then
        finding "deployment.yaml still runs $image by tag: the tag was re-pushed once and can be again; pin the image by digest (…/lab/app@sha256:…)"
        return
    fi
    pinned="${image##*@}"
    name="${image%@*}"
    [[ ${name##*/} == *:* ]] && name="${name%:*}" # drop a tag kept beside the digest
    if [[ $name != "$REGISTRY/lab/app" ]]; then
        finding "deployment.yaml runs $name, not the team's repository $REGISTRY/lab/app"
        return
    fi
    if [[ ! $pinned =~ ^sha256:[0-9a-f]{64}$ ]]; then
        finding "deployment.yaml pins \"$pinned\", which is not a digest (sha256: and 64 hex digits)"
        return
    fi
    lab_evaluate "$team_policy" "$manifest" deny
    case $EVAL_RC in
        0) ;;
        1)
            local what="the team key did not sign it"
            [[ $pinned == "$tag_digest" ]] && what="it is what lab/app:1.0 points to now, and the team key did not sign it"
            finding "deployment.yaml pins $pinned: $what. The team policy says: $(lab_reasons | head -n 1)"
            ;;
        *) finding "portcullis cannot evaluate deployment.yaml: $EVAL_OUT" ;;
    esac
}

# recorded KEY: the value of the line "KEY: …" in incident.md.
recorded() { sed -n "s/^[[:space:]*-]*$1:[[:space:]]*\`\{0,1\}\(sha256:[0-9a-f]*\).*/\1/p" "$LAB_HOME/incident.md" | head -n 1; }

check_incident() {
    if [[ ! -f $LAB_HOME/incident.md ]]; then
        finding "no incident.md in the workspace: record what happened, with the lines signed-digest: sha256:… and tampered-digest: sha256:…"
        return
    fi
    local signed tampered
    signed="$(recorded signed-digest)"
    tampered="$(recorded tampered-digest)"
    if [[ -z $signed ]]; then
        finding "incident.md has no line signed-digest: sha256:… (the digest the team signed)"
    elif ! team_signed "$signed"; then
        finding "incident.md: signed-digest $signed is not signed by the team key (team.pub)"
    elif [[ -n $pinned && $signed != "$pinned" ]]; then
        finding "incident.md: signed-digest $signed differs from the digest deployment.yaml pins ($pinned)"
    fi
    if [[ -z $tampered ]]; then
        finding "incident.md has no line tampered-digest: sha256:… (what lab/app:1.0 points to now)"
    elif [[ $tampered != "$tag_digest" ]]; then
        finding "incident.md: tampered-digest $tampered is not what lab/app:1.0 points to now"
    fi
}

check_deployment
check_incident
check_done
