# shellcheck shell=bash
# Lab 13: the audit as the check runs it (the repository's policies, never copies in the workspace).
#   lab_audit FORMAT PATH…   portcullis audit --output FORMAT over PATH…, images not verified
AUDIT_POLICIES=(pod-security-restricted.yaml resource-limits.yaml image-hygiene.yaml)

lab_audit() {
    local format="$1" p args=()
    shift
    for p in "${AUDIT_POLICIES[@]}"; do args+=(--policy "$PORTCULLIS_ROOT/policies/library/$p"); done
    "$LAB_BIN" audit "${args[@]}" --no-images --output "$format" "$@"
}
