"""The signing action and reusable workflow agree with the portcullis CLI and with each other.

- Every portcullis flag an input becomes (its description names it: `portcullis attest --sbom`) and
  every flag the action's scripts pass is one `portcullis SUBCOMMAND --help` lists, read from the
  binary in PORTCULLIS_BIN (default target/debug/portcullis; pipelines/test.sh sets it). A missing
  flag or subcommand fails, naming the input and the flag.
- The reusable workflow declares each action input with the same default and required-ness (the
  key material as secrets of the same name) and passes each through unchanged; its other inputs
  and secrets are the listed workflow-only ones.
- Every output of both is set: the action's by a script that writes it, the workflow's through a
  job output from the action step.
- Every action they use is pinned by commit SHA, with a version comment, to the same commit as in
  the repository's other workflows; the reusable workflow asks for no permission beyond
  id-token: write and packages: write.
- The caller snippets in docs/ci-signing.md use only inputs and secrets that exist.
"""

import os
import re
import subprocess
import unittest

import course_docs
import sign_action as sa
from treecase import TreeCase

BINARY = os.environ.get("PORTCULLIS_BIN") or os.path.join(sa.REPO, "target/debug/portcullis")
DOCS = os.path.join(sa.REPO, "docs/ci-signing.md")
PIN = re.compile(r"(?m)^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")


def read(path):
    with open(path) as fh:
        return fh.read()


def action_scripts():
    return {f: read(os.path.join(sa.ACTION_DIR, f)) for f in sorted(os.listdir(sa.ACTION_DIR)) if f.endswith(".sh")}


class FlagsExistInTheCli(unittest.TestCase):
    def test_every_flag_an_input_becomes_is_listed_by_the_cli(self):
        self.assertTrue(
            os.access(BINARY, os.X_OK),
            f"no portcullis binary at {BINARY}: build it (cargo build -p portcullis-webhook) or set PORTCULLIS_BIN",
        )
        problems = sa.flag_problems(sa.load_yaml(sa.ACTION), action_scripts(), lambda sub: sa.help_flags(BINARY, sub))
        self.assertEqual(problems, [], f"checked against {BINARY}:\n" + "\n".join(problems))

    def test_the_inputs_that_become_flags_say_so(self):
        documented = sa.documented_flags(sa.load_yaml(sa.ACTION))
        self.assertEqual(
            {name: sorted(pairs) for name, pairs in documented.items()},
            {
                "build-args": [("provenance", "--build-arg")],
                "bundle-format": [("attest", "--bundle-format"), ("sign", "--bundle-format")],
                "dependencies": [("provenance", "--dependency")],
                "key": [("attest", "--key"), ("sign", "--key")],
                "provenance-predicate": [("attest", "--predicate")],
                "sbom": [("attest", "--sbom"), ("predicate", "--sbom")],
                "vulnerability-report": [("attest", "--vuln"), ("predicate", "--vuln")],
            },
        )

    def test_sign_sh_calls_are_read_with_their_flags(self):
        script = (
            '"$PORTCULLIS_BIN" attest --key "$k" \\\n    --sbom "$f" "$ref" || die "portcullis attest --nope"\n'
            'while read -r l; do provenance_flags+=(--build-arg "$l"); done\n'
            '# "$PORTCULLIS_BIN" sign --commented-out\n'
        )
        self.assertEqual(sa.script_flags(script), {"attest": {"--key", "--sbom"}, "provenance": {"--build-arg"}})

    def test_a_flag_the_cli_lacks_fails_naming_the_input_and_the_flag(self):
        action = {"inputs": {"sbom": {"description": "an SBOM (`portcullis attest --sbom`)"}}}
        scripts = {"sign.sh": '"$PORTCULLIS_BIN" attest --key k --sbom "$SIGN_SBOM" "$ref"\n'}
        helps = {"attest": {"--key", "--predicate", "--type"}}
        self.assertEqual(
            sa.flag_problems(action, scripts, lambda sub: helps[sub]),
            [
                "input sbom becomes `portcullis attest --sbom`, which `portcullis attest --help` does not list",
                "the scripts pass `portcullis attest --sbom`, which its --help does not list",
            ],
        )

    def test_a_missing_subcommand_fails_naming_the_input(self):
        action = {"inputs": {"build-args": {"description": "(`portcullis provenance --build-arg`)"}}}
        scripts = {"sign.sh": 'x+=(y); "$PORTCULLIS_BIN" provenance --build-arg "$a"\n'}

        def helps(sub):
            raise RuntimeError(f"`portcullis {sub} --help` failed: error: unrecognized subcommand '{sub}'")

        problems = sa.flag_problems(action, scripts, helps)
        self.assertIn("input build-args becomes `portcullis provenance --build-arg`, but", problems[0])
        self.assertIn("unrecognized subcommand 'provenance'", problems[0])

    def test_a_documented_flag_no_script_passes_fails(self):
        action = {"inputs": {"sbom": {"description": "(`portcullis attest --sbom`)"}}}
        problems = sa.flag_problems(action, {"sign.sh": ""}, lambda sub: {"--sbom"})
        self.assertEqual(
            problems, ["input sbom: its description names `portcullis attest --sbom`; no script passes it"]
        )

    def test_help_flags_reads_clap_help(self):
        self.assertTrue(os.access(BINARY, os.X_OK), f"no portcullis binary at {BINARY}")
        flags = sa.help_flags(BINARY, "sign")
        self.assertTrue({"--key", "--bundle-format", "--registry-config", "--help"} <= flags, flags)
        with self.assertRaises(RuntimeError) as e:
            sa.help_flags(BINARY, "no-such-subcommand")
        self.assertIn("`portcullis no-such-subcommand --help` failed", str(e.exception))


class WorkflowAgreesWithAction(unittest.TestCase):
    def setUp(self):
        self.action = sa.load_yaml(sa.ACTION)
        self.workflow = sa.load_yaml(sa.WORKFLOW)

    def test_inputs_have_the_same_names_and_defaults_and_are_passed_through(self):
        self.assertEqual(sa.agreement_problems(self.action, self.workflow), [])

    def test_every_output_is_set(self):
        self.assertEqual(sa.action_output_problems(self.action, action_scripts()), [])
        self.assertEqual(sa.workflow_output_problems(self.action, self.workflow), [])
        self.assertEqual(set(self.action["outputs"]) >= {"digest", "provenance"}, True)
        self.assertEqual(set(sa.workflow_call(self.workflow)["outputs"]) >= {"digest", "provenance"}, True)

    def test_a_changed_default_or_a_dropped_pass_through_fails(self):
        call = sa.workflow_call(self.workflow)
        call["inputs"]["bundle-format"]["default"] = "new"
        _, _, step = sa.sign_step(self.workflow)
        del step["with"]["sbom"]
        step["with"]["key"] = "${{ inputs.key }}"
        self.assertEqual(
            sa.agreement_problems(self.action, self.workflow),
            [
                "input key: the workflow passes '${{ inputs.key }}', not ${{ secrets.key }}",
                "input sbom: the workflow does not pass it to the action",
                "input bundle-format: default 'new' in the workflow, 'classic' in the action",
            ],
        )

    def test_an_output_nothing_writes_fails(self):
        self.action["outputs"]["extra"] = {"description": "d", "value": "${{ steps.sign.outputs.extra }}"}
        self.assertEqual(
            sa.action_output_problems(self.action, action_scripts()),
            ["output extra: sign.sh never writes extra (`output extra …`)"],
        )

    def test_the_workflow_asks_only_for_what_signing_needs(self):
        self.assertEqual(self.workflow["permissions"], {})
        _, job, _ = sa.sign_step(self.workflow)
        self.assertEqual(job["permissions"], {"id-token": "write", "packages": "write"})

    def test_actions_are_pinned_like_the_rest_of_the_repository(self):
        known = {}
        for name in ("ci.yml", "release.yml"):
            for uses, _comment in PIN.findall(read(os.path.join(sa.REPO, ".github/workflows", name))):
                if "@" in uses:
                    known.setdefault(uses.split("@")[0], set()).add(uses.split("@")[1])
        for path in (sa.ACTION, sa.WORKFLOW):
            for uses, comment in PIN.findall(read(path)):
                if uses.startswith(("$/", "./")):
                    continue
                name, _, ref = uses.partition("@")
                self.assertRegex(ref, r"^[0-9a-f]{40}$", f"{path}: {uses} is not pinned by commit SHA")
                self.assertRegex(comment, r"^\s*# v\d", f"{path}: {uses} has no version comment")
                self.assertIn(name, known, f"{path}: {name} is pinned nowhere else; reuse a pin of release.yml/ci.yml")
                self.assertIn(ref, known[name], f"{path}: {name}@{ref} differs from the pins elsewhere")


class DocsSnippets(TreeCase):
    def test_the_callers_in_the_docs_use_inputs_that_exist(self):
        action = sa.load_yaml(sa.ACTION)
        call = sa.workflow_call(sa.load_yaml(sa.WORKFLOW))
        blocks = re.findall(r"(?ms)^```yaml\n(.*?)^```", read(DOCS))
        checked = 0
        for block in blocks:
            doc = sa.yaml.safe_load(block)
            for job in (doc or {}).get("jobs", {}).values():
                if str(job.get("uses", "")).split("@")[0].endswith("/.github/workflows/sign.yml"):
                    checked += 1
                    self.assertLessEqual(set(job.get("with", {})), set(call["inputs"]), block)
                    self.assertLessEqual(set(job.get("secrets", {})), set(call["secrets"]), block)
                for step in job.get("steps", []):
                    if "/.github/actions/sign" in str(step.get("uses", "")):
                        checked += 1
                        self.assertLessEqual(set(step.get("with", {})), set(action["inputs"]), block)
        self.assertGreaterEqual(checked, 3, "docs/ci-signing.md shows the workflow and the action, keyless and key")

    def test_its_portcullis_commands_links_and_paths_exist(self):
        self.assertTrue(os.access(BINARY, os.X_OK), f"no portcullis binary at {BINARY}")
        page, text = "docs/ci-signing.md", read(DOCS)
        problems = course_docs.check_portcullis(page, text, course_docs.cli_from_binary(BINARY))
        problems += course_docs.check_links(sa.REPO, page, text)
        problems += course_docs.check_paths(sa.REPO, page, text, course_docs.top_level_entries(sa.REPO))
        self.assertEqual(problems, [], f"checked against {BINARY}")

    def test_its_policies_load(self):
        self.assertTrue(os.access(BINARY, os.X_OK), f"no portcullis binary at {BINARY}")
        policies = [b for b in re.findall(r"(?ms)^```yaml\n(.*?)^```", read(DOCS)) if "kind: ClusterImagePolicy" in b]
        self.assertGreaterEqual(len(policies), 1)
        pod = self.write(
            "pod.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
            "    - {name: c, image: registry.example/other:1}\n",
        )
        root = os.path.join(sa.REPO, "deploy/components/release-signatures/trusted_root.json")
        for i, policy in enumerate(policies):
            path = self.write(f"policy{i}.yaml", policy)
            r = subprocess.run(
                [
                    BINARY,
                    "evaluate",
                    "--policy",
                    path,
                    "--trusted-root",
                    f"sigstore-public={root}",
                    "--no-match",
                    "allow",
                    pod,
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            self.assertEqual(r.returncode, 0, f"policy {i} of docs/ci-signing.md: {r.stdout}{r.stderr}")
        broken = self.write("broken.yaml", policies[0].replace("operator: equals", "operator: equal", 1))
        r = subprocess.run(
            [BINARY, "evaluate", "--policy", broken, "--trusted-root", f"sigstore-public={root}", pod],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(r.returncode, 2, "a broken policy must not load: " + r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
