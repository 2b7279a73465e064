"""Lab 13 check, the evidence part: do the files an auditor keeps record the audit of the
manifests as they are now, under the shipped policies?

    python evidence.py html STUDENT.html REFERENCE.html
    python evidence.py jsonl STUDENT.jsonl REFERENCE.jsonl
    python evidence.py policyreport STUDENT.yaml REFERENCE.yaml

REFERENCE is the check's own run of `portcullis audit` over the workspace's manifests. HTML
reports are compared by the fingerprints they record (policy set, input); JSON lines and
PolicyReports by their results (resource, policy, rule, status). Prints one finding per line.
"""
import json
import re
import sys

import yaml

FINGERPRINT = r"<th>{}</th><td[^>]*>sha256:([0-9a-f]{{64}})"


def fingerprints(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    found = {}
    for label in ("policy set", "input"):
        m = FINGERPRINT.format(re.escape(label))
        hit = re.search(m, text)
        found[label] = hit.group(1) if hit else None
    return found


def html(student, reference, name):
    mine, want = fingerprints(student), fingerprints(reference)
    if mine["input"] is None or mine["policy set"] is None:
        print(f"{name} is not a portcullis audit HTML report (no policy set and input fingerprints in it)")
        return
    if mine["policy set"] != want["policy set"]:
        print(f"{name} was made with another policy set (sha256:{mine['policy set'][:12]}…, the shipped "
              f"three give sha256:{want['policy set'][:12]}…): audit with the policies the README names")
    if mine["input"] != want["input"]:
        print(f"{name} records other manifests than manifests/ holds now (input sha256:{mine['input'][:12]}…, "
              f"now sha256:{want['input'][:12]}…): it is stale, run the audit again after your last change")


def jsonl_results(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError as e:
                raise ValueError(f"line {number}: {e}") from e
            res = r["resource"]
            key = (f"{res['kind']} {res.get('namespace') or '-'}/{res['name']}", f"{r['policy']}/{r['rule']}")
            out[key] = r["status"]
    return out


def policyreport_results(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for doc in yaml.safe_load_all(f):
            if not isinstance(doc, dict) or doc.get("kind") not in ("PolicyReport", "ClusterPolicyReport"):
                continue
            for r in doc.get("results") or []:
                for res in r.get("resources") or [{}]:
                    key = (f"{res.get('kind')} {res.get('namespace') or '-'}/{res.get('name')}",
                           f"{r.get('policy')}/{r.get('rule')}")
                    out[key] = r.get("result")
    return out


def results(kind, student, reference, name):
    read = jsonl_results if kind == "jsonl" else policyreport_results
    try:
        mine = read(student)
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as e:
        print(f"{name} does not parse as the audit's --output {kind}: {e}")
        return
    want = read(reference)
    if not mine:
        print(f"{name} holds no audit results")
        return
    differ = sorted(k for k in set(mine) | set(want) if mine.get(k) != want.get(k))
    if differ:
        resource, rule = differ[0]
        print(f"{name} records another audit than the manifests' now: {len(differ)} result(s) differ, e.g. "
              f"{resource} {rule} is {mine.get((resource, rule), 'absent')} there and "
              f"{want.get((resource, rule), 'absent')} now; run the audit again after your last change")


if __name__ == "__main__":
    kind, student, reference = sys.argv[1:4]
    name = "evidence/" + student.rsplit("/", 1)[-1]
    if kind == "html":
        html(student, reference, name)
    else:
        results(kind, student, reference, name)
