"""course_docs: each rule finds the mistake it is for, and leaves correct pages alone."""

import os
import stat
import subprocess
import unittest

import course_docs
from treecase import TreeCase

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../.."))

TOP_HELP = """Kubernetes admission webhook and supply-chain verifier

Usage: portcullis <COMMAND>

Commands:
  serve     Run the admission webhook server
  evaluate  Evaluate manifests against policies offline
  audit     Audit manifests against policies, read-only
  help      Print this message or the help of the given subcommand(s)

Options:
  -h, --help     Print help
"""
EVALUATE_HELP = "Usage: portcullis evaluate [OPTIONS] <MANIFEST>...\n  --policy <FILE|DIR>\n  --show-patches\n"
AUDIT_HELP = "Usage: portcullis audit [OPTIONS]\n  --policy <FILE|DIR>\n  --no-images\n  --fail-on <FAIL_ON>\n"
SERVE_HELP = "Usage: portcullis serve [OPTIONS]\n  --tls-cert <TLS_CERT>\n"
CLI = {
    "subcommands": course_docs.parse_help(TOP_HELP),
    "flags": {
        "evaluate": course_docs.parse_flags(EVALUATE_HELP),
        "audit": course_docs.parse_flags(AUDIT_HELP),
        "serve": course_docs.parse_flags(SERVE_HELP),
    },
}
MAKEFILE = """.PHONY: help demo lab-check ghost
help: ## list targets
\t@grep x
demo: bootstrap ## the demo
\t@pipelines/demo.sh
lab-check:
\t@pipelines/lab.sh check "$(LAB)"
VAR := value
"""


class Tree(TreeCase):
    """A small repository: a Makefile, a policy, a guide with headings, and course pages."""

    def setUp(self):
        super().setUp()
        self.write("Makefile", MAKEFILE)
        self.write("policies/library/restricted.yaml", "kind: ClusterGuardrailPolicy\n")
        self.write("docs/guide.md", "# Guide\n\n## Break glass\n\n```sh\n# not a heading\n```\n")
        self.write("docs/course/labs/01-x/files/deployment.yaml", "kind: Deployment\n")

    def problems(self, text, page="docs/course/01-tour.md"):
        self.write(page, text)
        problems, _ = course_docs.check_tree(self.root, CLI)
        return problems

    def assert_clean(self, text, page="docs/course/01-tour.md"):
        self.assertEqual(self.problems(text, page), [])

    def assert_problem(self, text, fragment, page="docs/course/01-tour.md"):
        problems = self.problems(text, page)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn(fragment, problems[0])
        return problems[0]


class Links(Tree):
    def test_existing_targets_anchors_and_web_links_pass(self):
        self.assert_clean(
            "[guide](../guide.md#break-glass) [lab](labs/01-x/) [top](#top) [web](https://example.com/x)\n"
        )

    def test_a_missing_file_fails_with_its_line(self):
        line = self.assert_problem("intro\n\n[runbook](../runbooks/README.md)\n", "does not exist")
        self.assertTrue(line.startswith("docs/course/01-tour.md:3: link to ../runbooks/README.md"), line)

    def test_a_missing_heading_fails(self):
        self.assert_problem("[x](../guide.md#nowhere)\n", "no heading #nowhere in docs/guide.md")

    def test_a_heading_inside_a_code_block_is_no_anchor(self):
        self.assert_problem("[x](../guide.md#not-a-heading)\n", "no heading")

    def test_a_link_out_of_the_repository_fails(self):
        self.assert_problem("[x](../../../elsewhere.md)\n", "leaves the repository")

    def test_links_inside_code_are_not_links(self):
        self.assert_clean("```\n[x](nowhere.md)\n```\n")


class Paths(Tree):
    def test_existing_paths_in_code_pass(self):
        self.assert_clean(
            "Read `policies/library/restricted.yaml` and `docs/`.\n\n```sh\nls ./policies/library\n```\n"
            "`files/deployment.yaml`\n",
            page="docs/course/labs/01-x/README.md",
        )

    def test_a_missing_path_in_inline_code_fails(self):
        self.assert_problem(
            "Edit `policies/library/restricted.yml`.\n", "path policies/library/restricted.yml does not exist"
        )

    def test_a_missing_path_in_a_fenced_block_fails(self):
        self.assert_problem("```sh\ncat --policy=policies/lib/x.yaml\n```\n", "path policies/lib/x.yaml does not exist")

    def test_a_mistyped_top_level_folder_with_a_file_name_fails(self):
        self.assert_problem("`pipline/lab.sh`\n", "path pipline/lab.sh does not exist")

    def test_a_labs_workspace_paths_are_not_repository_paths(self):
        page = "docs/course/labs/01-x/README.md"
        self.assert_clean("Edit `pods/app.json` and `rules/slo.yml` in your workspace.\n", page=page)
        self.assert_problem(
            "`policies/library/gone.yaml`\n", "path policies/library/gone.yaml does not exist", page=page
        )

    def test_machine_state_placeholders_and_names_are_not_paths(self):
        self.write("target/debug/.keep", "")
        self.assert_clean(
            "`target/debug/examples/push_image` `.work/labs/01-x/deployment.yaml` "
            "`deploy/overlays/<env>` `policies/*.yaml` "
            "`apps/v1` `registry.example/app:1.0` `Deployment/jobs-api`\n"
        )


class Make(Tree):
    def test_rule_targets_with_variables_pass(self):
        self.assert_clean("`make demo`\n\n```sh\nmake lab-check LAB=05 && make -s help\n```\n")

    def test_an_unknown_target_fails(self):
        self.assert_problem(
            "```sh\nmake drill NAME=postgres-pitr\n```\n", "make drill: is not a target of the Makefile"
        )

    def test_a_phony_name_without_a_rule_fails(self):
        self.assert_problem("`make ghost`\n", "make ghost: declared .PHONY but has no rule")

    def test_make_in_prose_is_not_checked(self):
        self.assert_clean("We make progress.\n")


class Portcullis(Tree):
    def test_known_subcommands_and_flags_pass(self):
        self.assert_clean(
            "```sh\ntarget/debug/portcullis evaluate --policy policies/library \\\n"
            "  --show-patches x.yaml | jq .\nportcullis audit --fail-on=fail [--no-images] -\n```\n"
            "`portcullis serve`\n"
        )

    def test_an_assignment_is_not_an_invocation(self):
        self.assert_clean("```sh\nPORTCULLIS=target/debug/portcullis COSIGN=cosign\n$PORTCULLIS evaluate --x y\n```\n")

    def test_an_unknown_subcommand_fails(self):
        self.assert_problem("`portcullis rehearse --all`\n", "portcullis rehearse: no such subcommand")

    def test_an_unknown_flag_fails_even_on_a_continuation_line(self):
        line = self.assert_problem(
            "```sh\nportcullis evaluate --policy p \\\n  --show-patch x.yaml\n```\n",
            "portcullis evaluate --show-patch: not a flag",
        )
        self.assertIn("01-tour.md:2:", line)

    def test_a_flag_of_another_subcommand_fails(self):
        self.assert_problem("`portcullis evaluate --no-images x.yaml`\n", "--no-images: not a flag")

    def test_the_help_names_its_subcommands(self):
        self.assertEqual(CLI["subcommands"], {"serve", "evaluate", "audit"})


class WholeTree(Tree):
    def test_no_course_pages_fails(self):
        problems, counts = course_docs.check_tree(self.root, CLI)
        self.assertEqual(problems, ["no Markdown pages under docs/course"])
        self.assertEqual(counts["pages"], 0)

    def test_every_page_is_read(self):
        self.write("docs/course/01-tour.md", "fine\n")
        self.write("docs/course/labs/01-x/README.md", "`make nope`\n")
        problems, counts = course_docs.check_tree(self.root, CLI)
        self.assertEqual(counts["pages"], 2)
        self.assertEqual(problems, ["docs/course/labs/01-x/README.md:1: make nope: is not a target of the Makefile"])


class Script(Tree):
    """pipelines/validate/course-docs.sh on fixture trees, with a stand-in binary printing the help above."""

    def binary(self):
        path = self.write(
            "bin/portcullis",
            '#!/bin/sh\ncase "$1" in\n'
            f"  --help) cat <<'H'\n{TOP_HELP}H\n;;\n"
            f"  evaluate) echo '{EVALUATE_HELP.replace(chr(10), ' ')}' ;;\n"
            f"  audit) echo '{AUDIT_HELP.replace(chr(10), ' ')}' ;;\n"
            f"  serve) echo '{SERVE_HELP.replace(chr(10), ' ')}' ;;\n"
            "  *) exit 2 ;;\nesac\n",
        )
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
        return path

    def run_check(self, binary):
        env = dict(os.environ, VALIDATE_ROOT=self.root, VALIDATE_WORK=os.path.join(self.root, ".work/v"))
        env["PORTCULLIS_BIN"] = binary
        return subprocess.run(
            [os.path.join(REPO, "pipelines/validate/course-docs.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def test_a_broken_page_fails_and_a_fixed_one_passes(self):
        self.write("docs/course/01-tour.md", "`make demo` then `portcullis evaluate --polcy p x.yaml`\n")
        r = self.run_check(self.binary())
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("portcullis evaluate --polcy: not a flag", r.stdout)
        self.assertIn("summary: 1 course pages, 1 problem(s)", r.stdout)
        self.write("docs/course/01-tour.md", "`make demo` then `portcullis evaluate --policy p x.yaml`\n")
        r = self.run_check(self.binary())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_a_binary_without_help_fails(self):
        self.write("docs/course/01-tour.md", "fine\n")
        broken = self.write("bin/broken", "#!/bin/sh\nexit 3\n")
        os.chmod(broken, 0o755)
        r = self.run_check(broken)
        self.assertEqual(r.returncode, 1)
        self.assertIn("summary: portcullis --help unreadable", r.stdout)


if __name__ == "__main__":
    unittest.main()
