#!/usr/bin/env bash
# pipelines/validate/dogfood.sh: check "dogfood". Every rendering through `portcullis evaluate`
# with our own shipped policies (DOGFOOD_POLICIES): no resource may be denied, third-party pods
# included.
#   PORTCULLIS_BIN  the portcullis binary (default: `cargo build -q -p portcullis-webhook --bin
#                   portcullis`, then target/debug/portcullis)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
    need_renderings
    local bin policy args=() f name out rc objs=0 denied=0 bad=0 files=()
    bin="$(portcullis_bin)" || { echo "$bin"; summary "no portcullis binary"; return 1; }
    for policy in "${DOGFOOD_POLICIES[@]}"; do
        [[ -f $PORTCULLIS_ROOT/$policy ]] || { summary "policy $policy not found"; return 1; }
        args+=(--policy "$PORTCULLIS_ROOT/$policy")
    done
    mapfile -t files < <(renderings)
    for f in "${files[@]}"; do
        name="$(basename "$f")"
        rc=0
        # From inside rendered/, so that the output names the rendering, not a path under .work.
        out="$(cd "$WORK/rendered" && "$bin" evaluate "${args[@]}" "$name" 2>&1)" || rc=$?
        objs=$((objs + $(grep -cE '^(ALLOW|DENY) ' <<<"$out" || true)))
        denied=$((denied + $(grep -cE '^DENY ' <<<"$out" || true)))
        case "$rc" in
            0) ;;
            # A denial and its reasons: the DENY line and the indented lines below it.
            1)
                awk '/^DENY / { show = 1; print; next } /^[^ ]/ { show = 0 } show' <<<"$out"
                if ! grep -E '^DENY ' <<<"$out" >/dev/null; then
                    echo "$name: exit 1 without a DENY line:"
                    echo "$out"
                    bad=$((bad + 1))
                fi
                ;;
            *)
                echo "$name: portcullis evaluate exited $rc (bad input?):"
                echo "$out"
                bad=$((bad + 1))
                ;;
        esac
    done
    summary "$objs resources in ${#files[@]} renderings x ${#DOGFOOD_POLICIES[@]} policies, $denied denied, $bad error(s)"
    [[ $objs -gt 0 && $denied -eq 0 && $bad -eq 0 ]]
}

main "$@"
