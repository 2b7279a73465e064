"""Lints observability/ where promtool and amtool do not look.

    python obs_lint.py ROOT OUT SCHEMA

  - every alert has severity/team labels and summary/description/runbook_url annotations, the
    runbook_url its own runbook, docs/runbooks/<alert>.md of this repository (and a heading of it,
    when the URL has an anchor)
  - every runbook named after an alert (docs/runbooks/<CapitalisedName>.md) belongs to an alert of
    the Prometheus or Loki rule files, and docs/runbooks/README.md links it
  - every rule file is listed by a unit test file; every alert is expected to fire in one test and
    to stay quiet in another
  - dashboards parse, have a title and a uid of their own and unique panel ids, and their links into
    this repository resolve; their expressions (Grafana variables replaced by sample values) go to
    OUT/dashboard-exprs.yml for `promtool check rules`, and the recording rules they use exist
  - the PrometheusRule kustomize rendered (OUT/prometheusrule.yaml) carries exactly the rule files'
    groups; it is written to OUT/prometheusrule.json, and SCHEMA (its CRD schema, when present)
    to OUT/prometheusrule_v1.json with the inline regex flag spelled out, for check-jsonschema

Prints one line per problem, then "stats: ..."; exit 1 on any problem. Used by
pipelines/validate/observability.sh.
"""

import glob
import json
import os
import re
import sys

import yaml

import schema_fix

SEVERITIES = ("critical", "warning", "info")
REPO_URL = "https://github.com/portcullis-dev/portcullis/blob/main/"
RUNBOOK = re.compile(re.escape(REPO_URL) + r"([^#]+)(?:#(.+))?$")
RUNBOOKS = "docs/runbooks"
SAMPLE_INTERVALS = {"rate_interval": "5m", "interval": "1m", "range": "1d"}


def _yaml(path):
    with open(path) as fh:
        return yaml.safe_load(fh)


def heading_slugs(markdown):
    """GitHub's anchors for the headings of a Markdown text."""
    return {
        re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", h.strip().lower()))
        for h in re.findall(r"^#{1,6}\s+(.+)$", markdown, re.M)
    }


def check_alert(rule, where, root):
    """Problems of one alerting rule's labels and annotations."""
    problems = []
    labels, notes = rule.get("labels") or {}, rule.get("annotations") or {}
    if labels.get("severity") not in SEVERITIES or not labels.get("team"):
        problems.append(f"{where}: needs labels severity (critical|warning|info) and team")
    for key in ("summary", "description", "runbook_url"):
        if not notes.get(key):
            problems.append(f"{where}: no {key} annotation")
    if notes.get("runbook_url"):
        problems += [f"{where}: {p}" for p in runbook_problems(rule["alert"], notes["runbook_url"], root)]
    return problems


def runbook_problems(alert, url, root):
    """Problems of an alert's runbook_url: it must be REPO_URL + docs/runbooks/<alert>.md, that file
    must exist, and an anchor, if any, must be one of its headings."""
    m = RUNBOOK.match(url)
    if not m:
        return [f"runbook_url {url!r} is not a file of this repository ({REPO_URL}...)"]
    path, anchor = m.group(1), m.group(2)
    want = f"{RUNBOOKS}/{alert}.md"
    if path != want:
        return [f"runbook_url points at {path}, not at the alert's own runbook {want}"]
    doc = os.path.join(root, path)
    if not os.path.isfile(doc):
        return [f"runbook_url points at {path}, which does not exist"]
    with open(doc) as fh:
        if anchor and anchor not in heading_slugs(fh.read()):
            return [f"{path} has no heading for #{anchor}"]
    return []


def is_alert_runbook(name):
    """Alert runbooks are named after their alert (CamelCase); README.md, templates and playbooks
    are in capitals or lower case."""
    return bool(re.match(r"[A-Z][a-z0-9]\w*\.md$", name))


def runbook_orphans(alerts, root):
    """Problems of docs/runbooks/: an alert runbook without its alert, or missing from the index."""
    folder = os.path.join(root, RUNBOOKS)
    if not os.path.isdir(folder):
        return [f"{RUNBOOKS}/: missing (every alert's runbook lives there)"]
    index_path = os.path.join(folder, "README.md")
    index = ""
    if os.path.isfile(index_path):
        with open(index_path) as fh:
            index = fh.read()
    problems = []
    for name in sorted(os.listdir(folder)):
        if not is_alert_runbook(name):
            continue
        if name[:-3] not in alerts:
            problems.append(
                f"{RUNBOOKS}/{name}: no alert named {name[:-3]} in the rule files (an orphan runbook: "
                f"rename it after its alert or delete it)"
            )
        if f"]({name})" not in index:
            problems.append(f"{RUNBOOKS}/README.md: does not link {name}")
    return problems


def loki_alerts(files):
    """Names of the alerting rules of the Loki rule files (their annotations are checked by
    observability/checks/telemetry.py)."""
    groups = [g for f in files for g in _yaml(f).get("groups") or []]
    return {r["alert"] for g in groups for r in g.get("rules") or [] if "alert" in r}


def read_rules(rule_files, root):
    """(groups, {alert: counts}, recording rule names, problems) of the rule files."""
    groups, alerts, records, problems = [], {}, set(), []
    for f in rule_files:
        for g in _yaml(f)["groups"]:
            groups.append(g)
            for r in g["rules"]:
                if "record" in r:
                    records.add(r["record"])
                    continue
                alerts[r["alert"]] = {"fires": 0, "quiet": 0}
                problems += check_alert(r, f"{os.path.relpath(f, root)}: {r['alert']}", root)
    return groups, alerts, records, problems


def check_tests(test_files, rule_files, alerts, root):
    """(unit test count, problems): each rule file tested, each alert firing and quiet once."""
    tested_files, tests, problems = set(), 0, []
    for f in test_files:
        doc = _yaml(f)
        tested_files |= {os.path.normpath(os.path.join(os.path.dirname(f), p)) for p in doc.get("rule_files", [])}
        for t in doc.get("tests", []):
            tests += 1
            for a in t.get("alert_rule_test", []):
                name = a["alertname"]
                if name not in alerts:
                    problems.append(f"{os.path.relpath(f, root)}: test for unknown alert {name}")
                    continue
                alerts[name]["fires" if a.get("exp_alerts") else "quiet"] += 1
    for f in rule_files:
        if f not in tested_files:
            problems.append(f"{os.path.relpath(f, root)}: no test file lists it in rule_files")
    for name, c in sorted(alerts.items()):
        if not c["fires"] or not c["quiet"]:
            problems.append(
                f"alert {name}: unit tests must make it fire and stay quiet "
                f"({c['fires']} firing, {c['quiet']} quiet expectations)"
            )
    return tests, problems


def _panels(panels):
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def promql_sample(expr):
    """A dashboard expression with Grafana's variables replaced by sample values."""
    expr = re.sub(r"\$\{?__(rate_interval|interval|range)\}?", lambda m: SAMPLE_INTERVALS[m.group(1)], expr)
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", lambda m: "var_" + (m.group(1) or m.group(2)), expr)


def recording_rules_used(expr):
    """Names with a colon (recording rules, by convention) outside string literals."""
    return re.findall(r"(?<![\w:])[a-zA-Z_]\w*:[\w:]*", re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr))


def check_dashboards(files, records, root):
    """(uids, expressions as recording rules, problems) of the dashboard JSON files."""
    exprs, uids, problems = [], set(), []
    for f in files:
        rel = os.path.relpath(f, root)
        try:
            with open(f) as fh:
                d = json.load(fh)
        except ValueError as e:
            problems.append(f"{rel}: not JSON: {e}")
            continue
        if d.get("uid") in uids or not d.get("uid") or not d.get("title"):
            problems.append(f"{rel}: needs a title and a uid of its own")
        uids.add(d.get("uid"))
        for link in d.get("links") or []:
            url = link.get("url", "")
            if url.startswith(REPO_URL) and not os.path.isfile(os.path.join(root, url[len(REPO_URL) :].split("#")[0])):
                problems.append(
                    f"{rel}: link {link.get('title')!r} points at {url[len(REPO_URL) :]}, which does not exist"
                )
        panels = list(_panels(d.get("panels", [])))
        ids = [p.get("id") for p in panels]
        if len(ids) != len(set(ids)):
            problems.append(f"{rel}: duplicate panel ids")
        for p in panels:
            for t in p.get("targets", []):
                e = t.get("expr", "")
                if not e.strip():
                    problems.append(f"{rel}: panel {p.get('title')!r} has a target without expr")
                    continue
                e = promql_sample(e)
                for name in recording_rules_used(e):
                    if name not in records:
                        problems.append(f"{rel}: panel {p.get('title')!r} uses {name}, which no rule file records")
                record = re.sub(r"\W", "_", os.path.basename(f)[:-5]) + f"__panel{p.get('id')}_{t.get('refId')}"
                labels = {"dashboard": os.path.basename(f), "panel": str(p.get("title"))}
                exprs.append({"record": record, "expr": e, "labels": labels})
    return uids, exprs, problems


def check_prometheusrule(rendered, groups):
    """(the PrometheusRule or None, problems): rendered must hold one, equal to the rule files."""
    with open(rendered) as fh:
        # The ConfigMap is the Loki rules: the telemetry check looks at those.
        docs = [d for d in yaml.safe_load_all(fh) if d and d.get("kind") != "ConfigMap"]
    if len(docs) != 1 or docs[0].get("kind") != "PrometheusRule":
        return None, ["observability/: kustomize must render exactly one PrometheusRule"]
    problems = []
    theirs = docs[0].get("spec", {}).get("groups", [])
    if [g["name"] for g in theirs] != [g["name"] for g in groups]:
        problems.append(
            f"observability/prometheusrule.yaml: groups {[g['name'] for g in theirs]} "
            f"differ from the rule files' {[g['name'] for g in groups]}"
        )
    # Differing group names or counts are reported above; compare what pairs up.
    for mine, other in zip(groups, theirs, strict=False):
        if mine != other:
            pairs = zip(mine["rules"], other["rules"], strict=False)
            diff = [r.get("alert") or r.get("record") for r, o in pairs if r != o]
            problems.append(
                f"observability/prometheusrule.yaml: group {mine['name']} differs from the rule "
                f"file (rules: {diff or 'count or group fields'})"
            )
    return docs[0], problems


def lint(root, out, schema):
    """Writes the artefacts into out; returns (problems, stats line)."""
    obs = os.path.join(root, "observability")
    rule_files = sorted(glob.glob(os.path.join(obs, "prometheus/rules/*.yml")))
    groups, alerts, records, problems = read_rules(rule_files, root)
    loki = loki_alerts(sorted(glob.glob(os.path.join(obs, "loki/rules/*.yaml"))))
    problems += runbook_orphans(set(alerts) | loki, root)
    tests, p = check_tests(sorted(glob.glob(os.path.join(obs, "prometheus/tests/*.yml"))), rule_files, alerts, root)
    problems += p
    uids, exprs, p = check_dashboards(sorted(glob.glob(os.path.join(obs, "grafana/dashboards/*.json"))), records, root)
    problems += p
    with open(os.path.join(out, "dashboard-exprs.yml"), "w") as fh:
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": exprs}]}, fh, sort_keys=False)
    rule, p = check_prometheusrule(os.path.join(out, "prometheusrule.yaml"), groups)
    problems += p
    if rule is not None:
        with open(os.path.join(out, "prometheusrule.json"), "w") as fh:
            json.dump(rule, fh)
    if os.path.isfile(schema):
        with open(schema) as fh:
            text = fh.read()
        try:
            text = schema_fix.spell_out(text)
        except schema_fix.UnknownInlineFlag as e:
            problems.append(f"{schema}: {e}")
        with open(os.path.join(out, "prometheusrule_v1.json"), "w") as fh:
            fh.write(text)
    stats = (
        f"{len(alerts)} alerts + {len(records)} recording rules, {tests} unit tests, "
        f"{len(uids)} dashboards ({len(exprs)} exprs)"
    )
    return problems, stats


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: obs_lint.py ROOT OUT SCHEMA")
    problems, stats = lint(*argv[1:4])
    for p in problems:
        print(p)
    print(f"stats: {stats}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
