# shellcheck shell=bash
# Lab 02: the lab's signers (files/signers.txt), shared by start.sh, check.sh and solve.sh.
#   signers             REPOSITORY|VERDICT|IDENTITY|WHY lines, comments dropped
#   signer_pods         one Pod per image of the lab registry ($REGISTRY), as a YAML stream
SIGNERS_FILE="$LAB_DIR/files/signers.txt"
# shellcheck disable=SC2034 # used by check.sh
TRUSTED_ROOT_NAME=lab-sigstore

signers() { grep -v '^#' "$SIGNERS_FILE"; }

signer_pods() {
    local repo _
    while IFS='|' read -r repo _ _ _; do
        echo '---'
        lab_pod "${repo##*/}" "$REGISTRY/$repo:1.0"
    done < <(signers)
}

# set_subject_regexp REGEXP: wrong/*.sh: the workspace policy's subjectRegExp becomes REGEXP.
set_subject_regexp() {
    REGEXP="$1" awk '/subjectRegExp:/ { sub(/subjectRegExp: .*/, "subjectRegExp: " ENVIRON["REGEXP"]) } { print }' \
        "$LAB_HOME/policy.yaml" >"$LAB_HOME/policy.yaml.new"
    mv "$LAB_HOME/policy.yaml.new" "$LAB_HOME/policy.yaml"
    grep -qF "subjectRegExp: $1" "$LAB_HOME/policy.yaml"
}

# drop_claims: wrong/*.sh: no claims under the identity (the regexp alone decides).
drop_claims() {
    sed -i '/claims:/,/source-repository-uri:/d' "$LAB_HOME/policy.yaml"
    ! grep -q 'claims:' "$LAB_HOME/policy.yaml"
}
