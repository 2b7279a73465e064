"""Unit tests of coverage_report (run by pipelines/test.sh with python3 -m unittest)."""

import unittest

import coverage_report as cr

CRATES = sorted(
    [("/r/policies", "portcullis-policies"), ("/r/verifier", "portcullis-verifier"),
     ("/r/verifier/testkit", "portcullis-testkit")],
    key=lambda c: -len(c[0]),
)


class PerCrate(unittest.TestCase):
    def test_files_go_to_the_deepest_crate_folder(self):
        report = {"files": [
            {"path": ["/", "r", "verifier", "testkit", "src", "lib.rs"], "covered": 1, "coverable": 4},
            {"path": "/r/verifier/src/lib.rs", "covered": 3, "coverable": 4},
            {"path": "r/policies/src/a.rs", "covered": 0, "coverable": 2},
            {"path": "/elsewhere/x.rs", "covered": 9, "coverable": 9},
        ]}
        self.assertEqual(cr.per_crate(report, CRATES), {
            "portcullis-testkit": [1, 4], "portcullis-verifier": [3, 4], "portcullis-policies": [0, 2]})

    def test_only_keeps_the_named_crates(self):
        report = {"files": [
            {"path": "/r/verifier/src/lib.rs", "covered": 3, "coverable": 4},
            {"path": "/r/policies/src/a.rs", "covered": 1, "coverable": 2},
        ]}
        self.assertEqual(cr.per_crate(report, CRATES, {"portcullis-policies"}), {"portcullis-policies": [1, 2]})

    def test_a_crate_without_coverable_lines_is_left_out(self):
        report = {"files": [{"path": "/r/policies/src/a.rs", "covered": 0, "coverable": 0}]}
        self.assertEqual(cr.per_crate(report, CRATES), {})


class Table(unittest.TestCase):
    def test_rows_and_total(self):
        text = cr.table({"b": [1, 4], "a": [3, 4]}).splitlines()
        self.assertEqual([line.split()[0] for line in text], ["crate", "a", "b", "total"])
        self.assertEqual(text[-1].split()[1:], ["4", "8", "50.0%"])


class Badge(unittest.TestCase):
    def test_badge_shows_the_figure_and_a_colour_for_it(self):
        svg = cr.badge(81.25)
        self.assertIn("coverage: 81.2%", svg)
        self.assertIn("#97ca00", svg)
        self.assertIn("#e05d44", cr.badge(12.0))


if __name__ == "__main__":
    unittest.main()
