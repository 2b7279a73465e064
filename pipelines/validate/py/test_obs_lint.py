"""Unit tests of obs_lint (pipelines/test.sh runs them with python -m unittest)."""

import json
import unittest

import yaml

import obs_lint as ol
from treecase import TreeCase

REPO = "https://github.com/portcullis-dev/portcullis/blob/main/"
RUNBOOK = REPO + "docs/runbooks/Down.md"


def alert(name, **overrides):
    rule = {
        "alert": name,
        "expr": "up == 0",
        "labels": {"severity": "critical", "team": "platform"},
        "annotations": {"summary": "s", "description": "d", "runbook_url": RUNBOOK},
    }
    rule.update(overrides)
    return rule


class Tree(TreeCase):
    def setUp(self):
        super().setUp()
        self.write("docs/runbooks/Down.md", "# Down\n\n## What it means\n\n## Diagnose!\n")
        self.write("docs/runbooks/README.md", "# Runbooks\n\n- [Down](Down.md)\n")


def with_runbook(url):
    return {"summary": "s", "description": "d", "runbook_url": url}


class Alerts(Tree):
    def check(self, name, url):
        return ol.check_alert(alert(name, annotations=with_runbook(url)), f"r: {name}", self.root)

    def test_a_complete_alert_passes(self):
        self.assertEqual(ol.check_alert(alert("Down"), "r: Down", self.root), [])

    def test_labels_and_annotations_are_required(self):
        problems = ol.check_alert(alert("Down", labels={"severity": "page"}, annotations={}), "r: Down", self.root)
        self.assertIn("r: Down: needs labels severity (critical|warning|info) and team", problems)
        self.assertIn("r: Down: no summary annotation", problems)
        self.assertIn("r: Down: no runbook_url annotation", problems)

    def test_an_anchor_must_be_a_heading_of_the_runbook(self):
        self.assertEqual(self.check("Down", RUNBOOK + "#diagnose"), [])
        self.assertEqual(
            self.check("Down", RUNBOOK + "#gone"), ["r: Down: docs/runbooks/Down.md has no heading for #gone"]
        )

    def test_the_runbook_must_be_in_this_repository(self):
        (problem,) = self.check("Down", "https://example.com/runbooks/Down.md")
        self.assertEqual(
            problem,
            f"r: Down: runbook_url 'https://example.com/runbooks/Down.md' is not a file of this repository ({REPO}...)",
        )

    def test_the_runbook_must_be_the_alerts_own(self):
        self.write("docs/ops.md", "# Operations\n\n## Up\n")
        self.assertEqual(
            self.check("Up", RUNBOOK),
            ["r: Up: runbook_url points at docs/runbooks/Down.md, not at the alert's own runbook docs/runbooks/Up.md"],
        )
        self.assertEqual(
            self.check("Up", REPO + "docs/ops.md#up"),
            ["r: Up: runbook_url points at docs/ops.md, not at the alert's own runbook docs/runbooks/Up.md"],
        )

    def test_the_runbook_must_exist(self):
        self.assertEqual(
            self.check("Up", REPO + "docs/runbooks/Up.md"),
            ["r: Up: runbook_url points at docs/runbooks/Up.md, which does not exist"],
        )


class Runbooks(Tree):
    def test_every_runbook_has_its_alert_and_a_link_in_the_index(self):
        self.assertEqual(ol.runbook_orphans({"Down"}, self.root), [])

    def test_a_runbook_without_its_alert_is_an_orphan(self):
        self.assertEqual(
            ol.runbook_orphans({"Up"}, self.root),
            [
                "docs/runbooks/Down.md: no alert named Down in the rule files (an orphan runbook: rename it after "
                "its alert or delete it)"
            ],
        )

    def test_the_index_must_link_every_runbook(self):
        self.write("docs/runbooks/Up.md", "# Up\n")
        self.assertEqual(
            ol.runbook_orphans({"Down", "Up"}, self.root), ["docs/runbooks/README.md: does not link Up.md"]
        )

    def test_readme_templates_and_playbooks_are_not_alert_runbooks(self):
        for name in ("rollback.md", "incident-template.md", "break-glass.md", "notes.txt"):
            self.write(f"docs/runbooks/{name}", "# x\n")
        self.assertEqual(ol.runbook_orphans({"Down"}, self.root), [])
        self.assertFalse(ol.is_alert_runbook("README.md"))
        self.assertTrue(ol.is_alert_runbook("PortcullisTLSReloadFailing.md"))

    def test_without_the_folder_every_alert_lacks_its_runbook(self):
        self.assertEqual(
            ol.runbook_orphans(set(), self.root + "/elsewhere"),
            ["docs/runbooks/: missing (every alert's runbook lives there)"],
        )

    def test_loki_alert_names_count_as_alerts(self):
        rules = {"groups": [{"name": "g", "rules": [{"record": "r", "expr": "1"}, {"alert": "LogSpike", "expr": "1"}]}]}
        path = self.write("obs/loki/rules/a.yaml", yaml.safe_dump(rules))
        self.assertEqual(ol.loki_alerts([path]), {"LogSpike"})


class UnitTests(Tree):
    def test_every_alert_must_fire_and_stay_quiet(self):
        rules = self.write("obs/rules/a.yml", yaml.safe_dump({"groups": [{"name": "g", "rules": [alert("Down")]}]}))
        tests = {
            "rule_files": ["../rules/a.yml"],
            "tests": [{"alert_rule_test": [{"alertname": "Down", "exp_alerts": [{}]}]}],
        }
        test_file = self.write("obs/tests/a.yml", yaml.safe_dump(tests))
        groups, alerts, _, problems = ol.read_rules([rules], self.root)
        self.assertEqual(problems, [])
        n, problems = ol.check_tests([test_file], [rules], alerts, self.root)
        self.assertEqual(n, 1)
        self.assertEqual(
            problems, ["alert Down: unit tests must make it fire and stay quiet (1 firing, 0 quiet expectations)"]
        )

    def test_an_untested_rule_file_and_an_unknown_alert_are_reported(self):
        rules = self.write("obs/rules/a.yml", yaml.safe_dump({"groups": [{"name": "g", "rules": []}]}))
        test_file = self.write(
            "obs/tests/a.yml", yaml.safe_dump({"tests": [{"alert_rule_test": [{"alertname": "X"}]}]})
        )
        _, problems = ol.check_tests([test_file], [rules], {}, self.root)
        self.assertEqual(
            problems,
            ["obs/tests/a.yml: test for unknown alert X", "obs/rules/a.yml: no test file lists it in rule_files"],
        )


class Dashboards(Tree):
    def test_grafana_variables_get_sample_values(self):
        self.assertEqual(
            ol.promql_sample('rate(x{ns="$namespace"}[$__rate_interval]) / ${job:raw}'),
            'rate(x{ns="var_namespace"}[5m]) / var_job',
        )

    def test_recording_rules_are_found_outside_strings(self):
        self.assertEqual(ol.recording_rules_used('a:b:rate5m{l="x:y"} + c'), ["a:b:rate5m"])

    def test_dashboard_problems(self):
        good = {
            "uid": "u",
            "title": "t",
            "panels": [{"id": 1, "title": "p", "targets": [{"expr": "a:b", "refId": "A"}]}],
        }
        bad = {
            "uid": "u",
            "links": [{"title": "Runbooks", "url": REPO + "docs/runbooks/Gone.md"}, {"url": RUNBOOK + "#diagnose"}],
            "panels": [{"id": 1, "targets": [{"expr": " "}]}, {"id": 1, "panels": []}],
        }
        files = [self.write("d/good.json", json.dumps(good)), self.write("d/bad.json", json.dumps(bad))]
        files.append(self.write("d/broken.json", "{"))
        uids, exprs, problems = ol.check_dashboards(files, set(), self.root)
        self.assertEqual(uids, {"u"})
        self.assertEqual([e["record"] for e in exprs], ["good__panel1_A"])
        self.assertEqual(problems[0], "d/good.json: panel 'p' uses a:b, which no rule file records")
        self.assertIn("d/bad.json: needs a title and a uid of its own", problems)
        self.assertIn("d/bad.json: duplicate panel ids", problems)
        self.assertIn("d/bad.json: link 'Runbooks' points at docs/runbooks/Gone.md, which does not exist", problems)
        self.assertEqual(sum("link" in p for p in problems), 1, problems)
        self.assertIn("d/bad.json: panel None has a target without expr", problems)
        self.assertTrue(problems[-1].startswith("d/broken.json: not JSON: "))


class PrometheusRule(Tree):
    GROUPS = [{"name": "g", "rules": [alert("Down")]}]

    def rendered(self, groups, extra=()):
        rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "spec": {"groups": groups}}
        return self.write("out/prometheusrule.yaml", yaml.safe_dump_all([rule, *extra]))

    def test_equal_groups_pass_and_the_loki_configmap_is_ignored(self):
        rule, problems = ol.check_prometheusrule(self.rendered(self.GROUPS, [{"kind": "ConfigMap"}]), self.GROUPS)
        self.assertEqual(problems, [])
        self.assertEqual(rule["kind"], "PrometheusRule")

    def test_a_changed_rule_is_named(self):
        changed = [{"name": "g", "rules": [alert("Down", expr="up < 1")]}]
        _, problems = ol.check_prometheusrule(self.rendered(changed), self.GROUPS)
        self.assertEqual(
            problems,
            ["observability/prometheusrule.yaml: group g differs from the rule file (rules: ['Down'])"],
        )

    def test_other_groups_are_reported(self):
        _, problems = ol.check_prometheusrule(self.rendered([{"name": "h", "rules": []}]), self.GROUPS)
        self.assertIn("groups ['h'] differ from the rule files' ['g']", problems[0])

    def test_exactly_one_prometheusrule(self):
        path = self.write("out/prometheusrule.yaml", yaml.safe_dump({"kind": "Service"}))
        self.assertEqual(
            ol.check_prometheusrule(path, self.GROUPS),
            (None, ["observability/: kustomize must render exactly one PrometheusRule"]),
        )


if __name__ == "__main__":
    unittest.main()
