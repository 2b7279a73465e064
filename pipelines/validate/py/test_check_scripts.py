"""Each check script of pipelines/validate fails on a broken fixture tree, with its message.

The scripts run for real (kubectl, the pinned venv's tools, promtool, node, the portcullis binary)
against small trees made here, through VALIDATE_ROOT and VALIDATE_WORK. pipelines/test.sh runs
these after pipelines/validate-manifests.sh, which installs the venv; the dogfood test needs the
binary that `cargo test` built (or PORTCULLIS_BIN) and fails, naming the fix, without it.
"""

import os
import re
import shutil
import subprocess
import unittest

from treecase import TreeCase

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../.."))
CHECKS = os.path.join(REPO, "pipelines/validate")
SCHEMAS = os.path.join(REPO, "testdata/schemas")

PRIVILEGED_POD = """apiVersion: v1
kind: Pod
metadata: {name: root, namespace: jobs}
spec:
  containers:
    - name: c
      image: registry.example/app:1.0.0
      securityContext: {privileged: true}
"""

BROKEN_WEBHOOK = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: portcullis
  annotations: {cert-manager.io/inject-ca-from: portcullis-system/tls}
webhooks:
  - name: pods.portcullis.dev
    sideEffects: Some
    timeoutSeconds: 10
    admissionReviewVersions: [v1]
    failurePolicy: Ignore
    namespaceSelector:
      matchExpressions:
        - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, portcullis-system]}
    rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods]}]
"""


class CheckScript(TreeCase):
    def setUp(self):
        super().setUp()
        self.work = os.path.join(self.root, ".work/validate")

    def app(self, name, *manifests):
        """deploy/base/NAME with a kustomization.yaml listing the given manifests."""
        files = []
        for i, text in enumerate(manifests):
            files.append(f"m{i}.yaml")
            self.write(f"deploy/base/{name}/m{i}.yaml", text)
        self.write(f"deploy/base/{name}/kustomization.yaml", f"resources: [{', '.join(files)}]\n")

    def check(self, name, *args, root=None, **env):
        run_env = dict(os.environ, VALIDATE_ROOT=root or self.root, VALIDATE_WORK=self.work, **env)
        run_env.setdefault("PORTCULLIS_SCHEMAS", SCHEMAS)
        return subprocess.run(
            [os.path.join(CHECKS, f"{name}.sh"), *args], env=run_env, capture_output=True, text=True, timeout=600
        )

    def assert_passes(self, name, root=None, **env):
        r = self.check(name, root=root, **env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def assert_fails(self, name, *fragments, root=None, **env):
        r = self.check(name, root=root, **env)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 1, out)
        for fragment in fragments:
            self.assertIn(fragment, out)
        self.assertRegex(out, r"(?m)^summary: ", "every check ends with a summary line")
        return out

    def rendered(self, name, text):
        self.write(os.path.relpath(os.path.join(self.work, "rendered", name), self.root), text)


class Render(CheckScript):
    def test_a_kustomization_that_does_not_build_fails(self):
        self.app("ok", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n")
        self.write("deploy/base/bad/kustomization.yaml", "resources: [missing.yaml]\n")
        self.assert_fails("render", "render failed: deploy/base/bad", "summary: 1 renderings, 1 failed")

    def test_a_flux_path_that_does_not_exist_fails(self):
        self.write(
            "deploy/clusters/dev/apps.yaml",
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps}\n"
            "spec: {path: ./deploy/apps/gone, sourceRef: {kind: GitRepository, name: flux-system}}\n",
        )
        self.assert_fails("render", "(apps) points at deploy/apps/gone, which does not exist")

    def test_the_checks_after_render_fail_without_renderings(self):
        for name in ("k8s-schema", "crd-schema", "checkov", "webhooks", "dogfood", "compliance", "telemetry"):
            with self.subTest(check=name):
                self.assert_fails(name, "summary: nothing rendered to check")


class Schemas(CheckScript):
    def test_an_unknown_field_of_a_builtin_kind_fails(self):
        self.app("app", "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {ports: [{port: 80}], portz: 1}\n")
        self.assert_passes("render")
        self.assert_fails("k8s-schema", "Kubernetes 1.35.0:", "portz", "2 version(s) failed")

    def test_a_custom_resource_against_its_schema_fails(self):
        cert = "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: tls}\nspec: {duration: 5}\n"
        widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
        self.app("app", cert, widget)
        self.assert_passes("render")
        self.assert_fails(
            "crd-schema",
            "cert-manager.io/certificate_v1:",
            "no schema for example.com/widget_v1 (1 objects, e.g. deploy_base_app--Widget--_--w.json)",
            "2 problem(s)",
        )

    def test_without_a_schema_folder_it_is_skipped_and_fails_under_ci(self):
        r = self.check("crd-schema", PORTCULLIS_SCHEMAS=os.path.join(self.root, "none"), CI="")
        self.assertEqual(r.returncode, 77, r.stdout)
        self.assertIn("custom resources NOT validated", r.stdout)
        self.assert_fails("crd-schema", "not found (set PORTCULLIS_SCHEMAS)", PORTCULLIS_SCHEMAS=self.root, CI="true")


class Checkov(CheckScript):
    def test_a_privileged_pod_and_a_skip_without_reason_fail(self):
        with open(os.path.join(REPO, "deploy/checkov-skips.yaml")) as fh:
            config = fh.read()
        self.write("deploy/checkov-skips.yaml", config + "  - CKV_K8S_21\n")
        self.app("app", PRIVILEGED_POD)
        self.assert_passes("render")
        out = self.assert_fails("checkov", "deploy/checkov-skips.yaml: skip without a reason:   - CKV_K8S_21")
        self.assertRegex(out, r"summary: \d+ passed, [1-9]\d* failed")
        self.assertIn("CKV_K8S_16", out)  # "Container should not be privileged"


class Webhooks(CheckScript):
    def test_an_unsafe_webhook_configuration_fails(self):
        self.rendered("deploy_base_webhook.yaml", BROKEN_WEBHOOK)
        self.assert_fails(
            "webhooks",
            "deploy_base_webhook.yaml: ValidatingWebhookConfiguration/portcullis webhook pods.portcullis.dev: "
            "sideEffects is 'Some', want 'None'",
            "summary: 1 webhook entries checked, 1 problem(s)",
        )


class Dogfood(CheckScript):
    def test_a_pod_our_policies_deny_fails(self):
        binary = os.environ.get("PORTCULLIS_BIN") or os.path.join(REPO, "target/debug/portcullis")
        if not os.access(binary, os.X_OK):
            self.fail(f"no portcullis binary at {binary}: cargo build -p portcullis-webhook --bin portcullis")
        self.rendered("deploy_base_jobs.yaml", PRIVILEGED_POD)
        out = self.assert_fails("dogfood", "DENY", "1 denied", PORTCULLIS_BIN=binary)
        self.assertIn("privileged", out)


class Compliance(CheckScript):
    def test_a_table_that_says_pass_for_a_privileged_pod_fails(self):
        binary = os.environ.get("PORTCULLIS_BIN") or os.path.join(REPO, "target/debug/portcullis")
        if not os.access(binary, os.X_OK):
            self.fail(f"no portcullis binary at {binary}: cargo build -p portcullis-webhook --bin portcullis")
        self.rendered("deploy_base_jobs.yaml", PRIVILEGED_POD)
        begin = "<!-- BEGIN generated by pipelines/validate/compliance.sh --write; do not edit by hand -->"
        stale = f"# Compliance\n\n{begin}\n| cis | 5.2.2 | pass | 1 pass |\n<!-- END generated -->\n"
        self.write("threat-model/compliance.md", stale)
        out = self.assert_fails("compliance", "+| cis | 5.2.2 | fail | 1 fail |", PORTCULLIS_BIN=binary)
        self.assertIn("disagrees with portcullis audit", out)
        r = self.check("compliance", "--write", PORTCULLIS_BIN=binary)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assert_passes("compliance", PORTCULLIS_BIN=binary)


class CourseDocs(CheckScript):
    def test_a_page_naming_a_missing_path_target_and_flag_fails(self):
        binary = os.environ.get("PORTCULLIS_BIN") or os.path.join(REPO, "target/debug/portcullis")
        if not os.access(binary, os.X_OK):
            self.fail(f"no portcullis binary at {binary}: cargo build -p portcullis-webhook --bin portcullis")
        self.write("Makefile", "demo:\n\t@true\n")
        self.write(
            "docs/course/01-tour.md",
            "`make demo`, `make tour`, `policies/library/none.yaml`, `portcullis evaluate --polcy p x.yaml`\n",
        )
        self.assert_fails(
            "course-docs",
            "make tour: is not a target of the Makefile",
            "path policies/library/none.yaml does not exist",
            "portcullis evaluate --polcy: not a flag",
            "summary: 1 course pages, 3 problem(s)",
            PORTCULLIS_BIN=binary,
        )


class Lint(CheckScript):
    def test_a_yaml_file_with_a_duplicate_key_fails(self):
        shutil.copy(os.path.join(REPO, ".yamllint"), os.path.join(self.root, ".yamllint"))
        self.write("deploy/x.yaml", "---\na: 1\na: 2\n")
        self.assert_fails("yamllint", "duplication of key", "summary: 2 YAML files, findings above")

    def test_a_script_with_an_unquoted_variable_fails(self):
        self.write("x.sh", "#!/usr/bin/env bash\nrm -- $1\n")
        self.assert_fails("shellcheck", "SC2086", "summary: 1 scripts, findings above")

    def test_a_workflow_without_runs_on_fails(self):
        self.write(
            ".github/workflows/ci.yml",
            "name: ci\non: push\npermissions: {}\njobs:\n  test:\n    steps:\n      - run: make test\n",
        )
        self.assert_fails("workflows", "check-jsonschema:", "1 workflows")

    def test_a_composite_action_expanding_an_input_in_run_fails(self):
        self.write(
            ".github/actions/greet/action.yml",
            "name: greet\ndescription: d\ninputs:\n  who: {description: w}\nruns:\n  using: composite\n"
            '  steps:\n    - run: echo "${{ inputs.who }}"\n      shell: bash\n',
        )
        self.assert_fails("workflows", "template-injection", "0 workflows, 1 actions:")

    def test_a_composite_action_step_without_shell_fails(self):
        self.write(
            ".github/actions/greet/action.yml",
            "name: greet\ndescription: d\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n",
        )
        self.assert_fails("workflows", "check-jsonschema (actions):", "0 workflows, 1 actions:")


class Observability(CheckScript):
    def test_an_alert_without_labels_or_tests_fails(self):
        for folder in ("observability", "docs"):
            shutil.copytree(os.path.join(REPO, folder), os.path.join(self.root, folder))
        self.write(
            "observability/prometheus/rules/zz-extra.yml",
            "groups:\n  - name: extra\n    rules:\n      - alert: Extra\n        expr: up == 0\n",
        )
        extra = "observability/prometheus/rules/zz-extra.yml"
        self.assert_fails(
            "observability",
            f"{extra}: Extra: needs labels severity (critical|warning|info) and team",
            f"{extra}: no test file lists it in rule_files",
            "alert Extra: unit tests must make it fire and stay quiet (0 firing, 0 quiet expectations)",
        )

    def test_a_renamed_runbook_fails_both_ways(self):
        for folder in ("observability", "docs"):
            shutil.copytree(os.path.join(REPO, folder), os.path.join(self.root, folder))
        os.rename(
            os.path.join(self.root, "docs/runbooks/JobsWorkerDown.md"),
            os.path.join(self.root, "docs/runbooks/JobsWorkerGone.md"),
        )
        self.assert_fails(
            "observability",
            "JobsWorkerDown: runbook_url points at docs/runbooks/JobsWorkerDown.md, which does not exist",
            "docs/runbooks/JobsWorkerGone.md: no alert named JobsWorkerGone in the rule files",
            "docs/runbooks/README.md: does not link JobsWorkerGone.md",
        )


class Telemetry(CheckScript):
    def test_a_second_otlp_endpoint_fails(self):
        self.assert_passes("render", root=REPO)
        path = os.path.join(self.work, "rendered", "deploy_base_webhook.yaml")
        with open(path) as fh:
            text = fh.read()
        text, n = re.subn(
            r"(name: OTEL_EXPORTER_OTLP_ENDPOINT\n\s+value: )\S+", r"\1http://elsewhere.monitoring.svc:4317", text
        )
        self.assertGreater(n, 0, "the webhook rendering sets OTEL_EXPORTER_OTLP_ENDPOINT")
        with open(path, "w") as fh:
            fh.write(text)
        self.assert_fails("telemetry", "OTEL_EXPORTER_OTLP_ENDPOINT 'http://elsewhere.monitoring.svc:4317'", root=REPO)


class Harness(CheckScript):
    def test_pass_fail_and_skip_lines(self):
        script = (
            f'. "{CHECKS}/lib.sh"\n'
            "run_check ok bash -c 'echo summary: fine'\n"
            "run_check bad bash -c 'echo finding; echo summary: broken; exit 3'\n"
            "run_check later bash -c 'echo summary: no tool here; exit 77'\n"
            'echo "failed: ${FAILED[*]}"\n'
        )
        r = subprocess.run(
            ["bash", "-c", script],
            env=dict(os.environ, VALIDATE_ROOT=self.root, VALIDATE_WORK=self.work),
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^PASS  ok +\d+\.\ds +fine$")
        self.assertRegex(lines[1], r"^FAIL  bad +\d+\.\ds +broken$")
        self.assertEqual(lines[2], "      finding")
        self.assertEqual(lines[3], "!!!!  later       SKIPPED: no tool here")
        self.assertEqual(lines[4], "failed: bad")


if __name__ == "__main__":
    unittest.main()
