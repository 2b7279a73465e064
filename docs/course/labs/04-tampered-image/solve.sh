#!/usr/bin/env bash
# Lab 04 reference solution, the investigation included: the digest lab/app:1.0 points to now is
# the tampered one; of the digests that carry a signature (cosign's sha256-<hex>.sig tags), the
# one team.pub verifies is the release. Pin the Deployment to it and record both.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
lab_registry
tampered="$(lab_tag_digest lab/app 1.0)"
signed=""
for hex in $(curl -fsS "http://$REGISTRY/v2/lab/app/tags/list" | jq -r '.tags[]' | sed -n 's/^sha256-\([0-9a-f]\{64\}\)\.sig$/\1/p'); do
    if "$LAB_BIN" verify --allow-http-registry --key "$LAB_HOME/team.pub" \
        "$REGISTRY/lab/app@sha256:$hex" >/dev/null 2>&1; then
        signed="sha256:$hex"
    fi
done
[[ -n $signed ]] || die "no digest of lab/app carries a signature by team.pub"
sed -i "s|image: $REGISTRY/lab/app:1.0\$|image: $REGISTRY/lab/app:1.0@$signed|" "$LAB_HOME/deployment.yaml"
cat >"$LAB_HOME/incident.md" <<EOF2
# lab/app:1.0 re-pushed after the release

The tag lab/app:1.0 no longer points to the release: it was pushed again with other content,
signed by a key that is not the team's. The Deployment is pinned to the team-signed digest.

signed-digest: $signed
tampered-digest: $tampered
EOF2
