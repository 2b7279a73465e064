#!/usr/bin/env bash
# Lab 13 check: re-runs the audit (the repository's policies, audit.sh) over the workspace's
# manifests/: every Pod Security control (pss:*) and every CIS 5.2.x control passes for every
# workload; every workload the shop started with is still there, with its containers, images and
# non-hostPath mounts (deleting what fails is no fix); and evidence/ holds an HTML report and a
# JSON lines or PolicyReport file that record this very audit: the HTML's input and policy-set
# fingerprints, the other's results, compared with the check's own run.
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
# shellcheck source=docs/course/labs/13-compliance-audit/audit.sh
. "$LAB_DIR/audit.sh"
manifests="$LAB_HOME/manifests"
evidence="$LAB_HOME/evidence"

# all_docs DIR: every document of every manifest file under DIR, one JSON array.
all_docs() {
    local f docs="[]" one
    while IFS= read -r f; do
        if ! one="$(lab_yaml "$f" 2>&1)"; then
            finding "manifests/${f#"$1"/} does not parse: $one"
            continue
        fi
        docs="$(jq -c --argjson a "$docs" '$a + .' <<<"$one")"
    done < <(find "$1" -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort)
    echo "$docs"
}
# containers: kind, namespace/name, container, image, then the mounts of non-hostPath volumes.
# shellcheck disable=SC2016 # a jq program, not shell
containers='.[] | select(.spec?) | . as $w
    | ((.spec.jobTemplate.spec.template.spec // .spec.template.spec // .spec) ) as $pod
    | ([$pod.volumes[]? | select(.hostPath) | .name]) as $hostpath
    | $pod.containers[]? | [$w.kind, "\($w.metadata.namespace)/\($w.metadata.name)", .name, .image,
        ([.volumeMounts[]? | select(.name as $n | $hostpath | index($n) | not) | .mountPath] | join(" "))] | @tsv'

if [[ ! -d $manifests ]]; then
    finding "there is no manifests/ folder in $LAB_HOME"
    check_done
fi
original="$(all_docs "$LAB_DIR/files/manifests")"
mine="$(all_docs "$manifests")"

# Every workload, container and (non-hostPath) mount the shop started with is still there.
while IFS=$'\t' read -r kind name container image mounts; do
    workload="$(jq -c --arg k "$kind" --arg n "$name" \
        '[.[] | select(.kind == $k and "\(.metadata.namespace)/\(.metadata.name)" == $n)]' <<<"$mine")"
    if [[ $(jq length <<<"$workload") -eq 0 ]]; then
        finding "$kind $name is gone from manifests/: the audit must cover every workload the shop runs; make it pass, do not delete it"
        continue
    fi
    have="$(jq -r --arg c "$container" "$containers | select(split(\"\\t\")[2] == \$c)" <<<"$workload")"
    if [[ -z $have ]]; then
        finding "$kind $name has no container $container any more: it is what the workload runs"
        continue
    fi
    IFS=$'\t' read -r _ _ _ have_image have_mounts <<<"$have"
    [[ $have_image == "$image" ]] || finding "$kind $name: container $container runs $have_image, not $image"
    for m in $mounts; do
        [[ " $have_mounts " == *" $m "* ]] ||
            finding "$kind $name: container $container no longer mounts $m: the workload needs it"
    done
done < <(jq -r "$containers" <<<"$original")

# The audit, now: one finding per failing in-scope control × workload.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if ! lab_audit jsonl "$manifests" >"$work/audit.jsonl" 2>"$work/audit.err"; then
    finding "portcullis audit cannot read manifests/: $(cat "$work/audit.err")"
    check_done
fi
failing="$(jq -rs '
    [.[] | select(.status == "fail" or .status == "error" or .status == "warn") | . as $r
      | .controls[] | select(startswith("pss:") or startswith("cis:5.2."))
      | {control: ., resource: "\($r.resource.kind) \($r.resource.namespace)/\($r.resource.name)",
         reason: ($r.reasons[0] // $r.status)}]
    | group_by([.control, .resource]) | .[] | .[0] | [.control, .resource, .reason] | @tsv' "$work/audit.jsonl")" ||
    die "the audit's JSON lines did not parse (a check bug, not yours)"
while IFS=$'\t' read -r control resource reason; do
    [[ -z $control ]] || finding "$control fails for $resource: $reason"
done <<<"$failing"

# The evidence: made from these manifests, under these policies.
judge_evidence() { # FORMAT STUDENT-FILE REFERENCE-FILE: evidence.py's findings
    local out rc=0 line
    out="$("$VENV/bin/python" "$LAB_DIR/evidence.py" "$@" 2>&1)" || rc=$?
    if [[ $rc -ne 0 ]]; then
        finding "evidence/$(basename "$2") could not be judged: $(tail -n 1 <<<"$out")"
        return
    fi
    while IFS= read -r line; do [[ -z $line ]] || finding "$line"; done <<<"$out"
}
if [[ -f $evidence/audit.html ]]; then
    lab_audit html "$manifests" >"$work/audit.html"
    judge_evidence html "$evidence/audit.html" "$work/audit.html"
else
    finding "there is no evidence/audit.html: the auditor's report (portcullis audit --output html)"
fi
machine=0
for format in jsonl policyreport; do
    file="$evidence/audit.jsonl"
    [[ $format == jsonl ]] || file="$evidence/policyreport.yaml"
    [[ -f $file ]] || continue
    machine=1
    [[ $format == jsonl ]] || lab_audit policyreport "$manifests" >"$work/policyreport.yaml"
    judge_evidence "$format" "$file" "$work/$(basename "$file")"
done
[[ $machine -eq 1 ]] ||
    finding "there is no evidence/audit.jsonl (or evidence/policyreport.yaml): the results in a form a tool can read"
check_done
