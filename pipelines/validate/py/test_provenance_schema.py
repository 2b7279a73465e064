"""What `portcullis provenance` writes, and the real SLSA v1 corpus, against the SLSA v1 schema
(schemas/, written here). The schema is proved able to fail on the v0.2 and draft statements of
the same corpus. Needs the binary `cargo test` built (or PORTCULLIS_BIN)."""

import copy
import glob
import json
import os
import subprocess
import tempfile
import unittest

import jsonschema

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SCHEMA_FILE = os.path.join(REPO, "pipelines/validate/py/schemas/slsa-provenance-v1.schema.json")
CORPUS = os.path.join(REPO, "testdata/corpora/slsa")
HEX = "ab" * 32
# A GitHub Actions run's variables (a push of a release tag), nothing else from this machine.
GITHUB_RUN = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_REF": "refs/tags/v1.2.0",
    "GITHUB_REPOSITORY": "acme/app",
    "GITHUB_REPOSITORY_ID": "123456",
    "GITHUB_REPOSITORY_OWNER_ID": "7890",
    "GITHUB_RUN_ATTEMPT": "2",
    "GITHUB_RUN_ID": "987654321",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/release.yml@refs/tags/v1.2.0",
    "RUNNER_ENVIRONMENT": "github-hosted",
}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class ProvenanceSchema(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        schema = load(SCHEMA_FILE)
        jsonschema.Draft202012Validator.check_schema(schema)
        cls.statement = jsonschema.Draft202012Validator(schema)
        cls.predicate = jsonschema.Draft202012Validator(
            {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/provenance"})
        cls.binary = os.environ.get("PORTCULLIS_BIN") or os.path.join(REPO, "target/debug/portcullis")
        if not os.access(cls.binary, os.X_OK):
            raise AssertionError(f"{cls.binary} is missing: run cargo build -p portcullis-webhook first")

    def errors(self, validator, doc):
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]

    def provenance(self, args, env):
        with tempfile.TemporaryDirectory() as d:
            art = os.path.join(d, "app.tar.gz")
            with open(art, "wb") as f:
                f.write(b"release")
            base = {"PATH": os.environ.get("PATH", "/usr/bin"), **env}
            r = subprocess.run([self.binary, "provenance", *args, art], env=base, cwd=d,
                               capture_output=True, text=True, timeout=60, check=False)
            self.assertEqual(r.returncode, 0, r.stderr)
            return json.loads(r.stdout)

    def test_the_slsa_v1_statements_and_predicate_of_the_corpus_pass(self):
        files = sorted(glob.glob(os.path.join(CORPUS, "v1/**/*.json"), recursive=True))
        self.assertGreaterEqual(len(files), 11, files)
        for path in files:
            doc = load(path)
            validator = self.statement if "_type" in doc else self.predicate
            # sigstore-conformance's Rekor v2 fixture is a signing test, not a build's record: it
            # leaves out externalParameters, which the spec requires, and is refused for exactly that.
            want = (["predicate/buildDefinition: 'externalParameters' is a required property"]
                    if os.path.basename(path).startswith("sigstore-conformance__rekor2") else [])
            self.assertEqual(self.errors(validator, doc), want, path)

    def test_v0_2_and_draft_statements_fail(self):
        files = sorted(glob.glob(os.path.join(CORPUS, "v0.2/signed-statements/*.json"))
                       + glob.glob(os.path.join(CORPUS, "v1-draft/examples/*.json")))
        self.assertGreaterEqual(len(files), 8, files)
        for path in files:
            self.assertNotEqual(self.errors(self.statement, load(path)), [], path)

    def test_a_github_run_statement_passes(self):
        doc = self.provenance(["--statement"], GITHUB_RUN)
        self.assertEqual(self.errors(self.statement, doc), [])
        self.assertEqual(doc["predicate"]["buildDefinition"]["buildType"],
                         "https://actions.github.io/buildtypes/workflow/v1")

    def test_a_statement_from_flags_with_every_option_passes(self):
        with tempfile.NamedTemporaryFile(suffix=".cdx.json") as sbom:
            sbom.write(b"{}")
            sbom.flush()
            args = ["--statement", "--from", "flags",
                    "--repository", "https://git.example.com/team/app", "--ref", "refs/heads/main",
                    "--commit", "0123456789abcdef0123456789abcdef01234567", "--workflow-path", ".gitlab-ci.yml",
                    "--builder-id", "https://ci.example.com/runners/linux", "--builder-version", "buildah=1.39",
                    "--invocation-id", "https://ci.example.com/jobs/42",
                    "--dependency", f"BASE=oci://registry.example/base@sha256:{HEX}",
                    "--build-arg", "PROFILE=release", "--byproduct", sbom.name,
                    "--started-on", "2026-12-03T10:00:00Z", "--finished-on", "2026-12-03T10:05:00Z",
                    "--external-parameter", 'image={"name":"app"}', "--internal-parameter", 'cache=false']
            doc = self.provenance(args, {})
        self.assertEqual(self.errors(self.statement, doc), [])
        run = doc["predicate"]["runDetails"]
        self.assertEqual(run["byproducts"][0]["digest"]["sha256"],
                         "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
        # The schema catches what a producer gets wrong in the same document.
        for path, value in [(("runDetails", "metadata", "startedOn"), "10:00 today"),
                            (("runDetails", "builder", "ids"), "x"),
                            (("buildDefinition", "resolvedDependencies", 1, "digest", "sha256"), "ABC")]:
            bad = copy.deepcopy(doc)
            node = bad["predicate"]
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
            self.assertNotEqual(self.errors(self.statement, bad), [], path)


if __name__ == "__main__":
    unittest.main()
