"""Unit tests of compliance_table (pipelines/test.sh runs them with python -m unittest)."""

import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stdout
from unittest import mock

import compliance_table as ct


def result(name, status, controls, file="r.yaml"):
    resource = {"kind": "Pod", "namespace": "a", "name": name, "file": file, "document": 1, "line": 1}
    return json.dumps({"resource": resource, "rule": "privileged", "status": status, "controls": controls})


AUDIT = [
    result("p", "pass", ["cis:5.2.10", "pss:Privileged Containers"]),
    result("q", "fail", ["cis:5.2.9"]),
    result("q", "warn", ["cis:5.2.10"]),
    result("r", "pass", []),
]


class Table(unittest.TestCase):
    def test_worst_status_counts_and_natural_order(self):
        text = ct.table(AUDIT, 2)
        rows = [line for line in text.splitlines() if line.startswith("| cis") or line.startswith("| pss")]
        self.assertEqual(
            rows,
            [
                "| cis | 5.2.9 | fail | 1 fail |",
                "| cis | 5.2.10 | warn | 1 pass, 1 warn |",
                "| pss | Privileged Containers | pass | 1 pass |",
            ],
        )
        self.assertIn("Audited: 3 pod-carrying resources in 2 renderings", text)

    def test_no_mapped_result_is_an_error(self):
        with self.assertRaises(SystemExit):
            ct.table([result("r", "pass", [])], 1)


class CheckAndWrite(unittest.TestCase):
    def run_main(self, mode, doc):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "compliance.md")
            with open(path, "w", encoding="utf-8") as f:
                f.write(doc)
            out = io.StringIO()
            with mock.patch.object(sys, "stdin", io.StringIO("\n".join(AUDIT) + "\n")), redirect_stdout(out):
                rc = ct.main(["compliance_table.py", mode, path, "2"])
            with open(path, encoding="utf-8") as f:
                return rc, f.read(), out.getvalue()

    def test_a_stale_table_fails_the_check_and_write_makes_it_current(self):
        stale = f"# C\n\n{ct.BEGIN}\n| cis | 5.2.9 | pass | 1 pass |\n{ct.END}\ntail\n"
        rc, doc, out = self.run_main("check", stale)
        self.assertEqual(rc, 1)
        self.assertEqual(doc, stale, "check never writes")
        self.assertIn("-| cis | 5.2.9 | pass | 1 pass |", out)
        self.assertIn("+| cis | 5.2.9 | fail | 1 fail |", out)
        rc, doc, _ = self.run_main("write", stale)
        self.assertEqual(rc, 0)
        self.assertTrue(doc.startswith("# C\n\n") and doc.endswith(f"{ct.END}\ntail\n"))
        rc, again, out = self.run_main("check", doc)
        self.assertEqual((rc, again), (0, doc), out)

    def test_a_document_without_markers_says_where_to_put_them(self):
        with self.assertRaises(SystemExit) as e:
            self.run_main("check", "# no table\n")
        self.assertIn(ct.BEGIN, str(e.exception))


if __name__ == "__main__":
    unittest.main()
