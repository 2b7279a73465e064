"""Unit tests of the runbook rule of observability/checks/telemetry.py (the Loki alerts'
runbook_url), the same rule obs_lint applies to the Prometheus alerts."""

import glob
import os
import sys
import unittest

import yaml

from treecase import TreeCase

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../observability/checks"))
import telemetry  # noqa: E402  (lives in observability/checks, beside the files it checks)

REPO = "https://github.com/portcullis-dev/portcullis/blob/main/"


class RunbookUrl(TreeCase):
    def setUp(self):
        super().setUp()
        self.write("docs/runbooks/LogSpike.md", "# LogSpike\n\n## Diagnose\n")

    def problem(self, alert, url):
        return telemetry.runbook_problem(alert, url, root=self.root)

    def test_the_alerts_own_runbook_passes_with_or_without_a_heading(self):
        self.assertIsNone(self.problem("LogSpike", REPO + "docs/runbooks/LogSpike.md"))
        self.assertIsNone(self.problem("LogSpike", REPO + "docs/runbooks/LogSpike.md#diagnose"))

    def test_an_anchor_must_be_a_heading(self):
        self.assertEqual(
            self.problem("LogSpike", REPO + "docs/runbooks/LogSpike.md#mitigate"),
            "docs/runbooks/LogSpike.md has no heading for #mitigate",
        )

    def test_another_alerts_runbook_or_the_old_operations_page_fails(self):
        self.write("docs/operations.md", "# Operations\n\n### LogErrors\n")
        for path in ("docs/runbooks/LogSpike.md", "docs/operations.md#logerrors"):
            self.assertEqual(
                self.problem("LogErrors", REPO + path),
                f"runbook_url points at {path.split('#')[0]}, not at the alert's own runbook "
                "docs/runbooks/LogErrors.md",
            )

    def test_a_missing_file_fails(self):
        self.assertEqual(
            self.problem("LogErrors", REPO + "docs/runbooks/LogErrors.md"),
            "runbook_url points at docs/runbooks/LogErrors.md, which does not exist",
        )

    def test_a_url_outside_this_repository_fails(self):
        self.assertIn(
            "is not a file of this repository",
            self.problem("LogSpike", "https://github.com/someone/else/blob/main/docs/runbooks/LogSpike.md"),
        )

    def test_the_shipped_loki_rules_pass(self):
        """The real rule files against the real docs/runbooks/ (no fixture)."""
        names = []
        for f in glob.glob(os.path.join(telemetry.OBS, "loki/rules/*.yaml")):
            with open(f) as fh:
                for g in yaml.safe_load(fh)["groups"]:
                    for r in g["rules"]:
                        if "alert" in r:
                            names.append(r["alert"])
                            self.assertIsNone(telemetry.runbook_problem(r["alert"], r["annotations"]["runbook_url"]))
        self.assertGreater(len(names), 0, "the Loki rule files have alerts")


if __name__ == "__main__":
    unittest.main()
