#!/usr/bin/env bash
# pipelines/validate/crd-schema.sh: check "crd-schema". Every custom resource that render.sh split
# out ($WORK/custom/<group>__<kind>_<version>/) against its CRD JSON schema,
# $SCHEMAS/crds/<group>/<kind>_<version>.json, with check-jsonschema. A kind without a schema
# fails unless CRD_SCHEMA_EXCEPTIONS names it with a reason.
# Without a schema folder the check is skipped (exit 77), and fails under CI=true.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Custom kinds that have no schema in $SCHEMAS and are accepted anyway, with the reason.
# Format: "<group>|<reason>" (the whole group) or "<group>/<Kind>|<reason>".
CRD_SCHEMA_EXCEPTIONS=(
    "policy.portcullis.dev|Portcullis's own policy kinds; their CRDs are generated from the Rust types and validated by the policies/ checks"
)

# exception_for GROUP KIND_VERSION: prints the reason when an exception covers the kind.
exception_for() {
    local group="$1" kind="${2%_*}" exc reason found=1
    for exc in "${CRD_SCHEMA_EXCEPTIONS[@]}"; do
        reason="${exc#*|}"
        exc="${exc%%|*}"
        if [[ $exc == "$group" || ${exc,,} == "$group/$kind" ]]; then
            printf '%s\n' "$reason"
            found=0
        fi
    done
    return "$found"
}

# check_kind DIR: checks the objects of one group/kind/version; non-zero on a problem.
check_kind() {
    local dir="$1" key group kind_ver schema reason out rc=0
    key="$(basename "$dir")"
    key="${key//__//}" # group/kind_version
    group="${key%%/*}"
    kind_ver="${key#*/}"
    local objects=("$dir"*.json)
    schema="$SCHEMAS/crds/$group/$kind_ver.json"
    if [[ ! -f $schema ]]; then
        if reason="$(exception_for "$group" "$kind_ver")"; then
            echo "not schema-checked: $key (${#objects[@]} objects): $reason"
            return 0
        fi
        echo "no schema for $key (${#objects[@]} objects, e.g. $(basename "${objects[0]}")): add $schema or an exception with a reason"
        return 1
    fi
    if grep -F '(?i)' "$schema" >/dev/null; then
        # Python's re (check-jsonschema) rejects the RE2 inline flag (prometheusrule_v1.json).
        PY "$PY_DIR/schema_fix.py" "$schema" "$WORK/custom/${key//\//__}.schema.json" || return 1
        schema="$WORK/custom/${key//\//__}.schema.json"
    fi
    checked=$((checked + ${#objects[@]}))
    groups=$((groups + 1))
    out="$("$VENV/bin/check-jsonschema" --schemafile "$schema" "${objects[@]}" 2>&1)" || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "$key:"
        grep -v '^ok -- validation done' <<<"$out" || true
        return 1
    fi
}

main() {
    if [[ ! -d $SCHEMAS/crds ]]; then
        if [[ ${CI:-} == true ]]; then
            summary "schema folder $SCHEMAS/crds not found (set PORTCULLIS_SCHEMAS)"
            return 1
        fi
        summary "schema folder $SCHEMAS/crds not found; custom resources NOT validated (set PORTCULLIS_SCHEMAS; CI fails here)"
        return "$SKIPPED"
    fi
    need_renderings
    local dir bad=0
    checked=0 groups=0
    for dir in "$WORK"/custom/*/; do
        [[ -d $dir ]] || continue
        check_kind "$dir" || bad=$((bad + 1))
    done
    summary "$checked custom resources against $groups CRD schemas, $bad problem(s)"
    [[ $bad -eq 0 ]]
}

main "$@"
