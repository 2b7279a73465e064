"""Unit tests of webhook_safety (pipelines/test.sh runs them with python -m unittest)."""

import contextlib
import copy
import io
import os
import tempfile
import unittest

import yaml

import webhook_safety as ws

SAFE = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingWebhookConfiguration",
    "metadata": {"name": "portcullis", "annotations": {"cert-manager.io/inject-ca-from": "portcullis-system/cert"}},
    "webhooks": [
        {
            "name": "pods.portcullis.dev",
            "sideEffects": "None",
            "timeoutSeconds": 10,
            "admissionReviewVersions": ["v1"],
            "failurePolicy": "Fail",
            "namespaceSelector": {
                "matchLabels": {"portcullis.dev/enforce": "true"},
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "NotIn",
                        "values": ["kube-system", "portcullis-system"],
                    }
                ],
            },
            "rules": [{"operations": ["CREATE", "UPDATE"], "resources": ["pods"]}],
        }
    ],
}


def broken(**webhook_changes):
    doc = copy.deepcopy(SAFE)
    for key, value in webhook_changes.items():
        if value is None:
            del doc["webhooks"][0][key]
        else:
            doc["webhooks"][0][key] = value
    return doc


class Rules(unittest.TestCase):
    def problems(self, doc):
        return ws.check_configuration(doc, "r.yaml")[1]

    def assert_one_problem(self, doc, *fragments):
        problems = self.problems(doc)
        self.assertEqual(len(problems), 1, problems)
        for fragment in fragments:
            self.assertIn(fragment, problems[0])

    def test_a_safe_configuration_passes(self):
        self.assertEqual(ws.check_configuration(SAFE, "r.yaml"), (1, []))

    def test_side_effects_must_be_none(self):
        self.assert_one_problem(broken(sideEffects="Some"), "webhook pods.portcullis.dev", "sideEffects is 'Some'")

    def test_timeout_must_leave_headroom(self):
        self.assert_one_problem(broken(timeoutSeconds=30), "timeoutSeconds is 30, want 1..15")
        self.assert_one_problem(broken(timeoutSeconds=None), "timeoutSeconds is None")
        self.assert_one_problem(broken(timeoutSeconds=True), "timeoutSeconds is True")

    def test_review_version_v1_is_needed(self):
        self.assert_one_problem(broken(admissionReviewVersions=["v1beta1"]), "lacks v1")

    def test_system_namespaces_are_always_excluded(self):
        sel = copy.deepcopy(SAFE["webhooks"][0]["namespaceSelector"])
        sel["matchExpressions"][0]["values"] = ["kube-system"]
        self.assert_one_problem(broken(namespaceSelector=sel), "does not exclude ['portcullis-system']")

    def test_fail_closed_only_where_a_namespace_opted_in(self):
        sel = copy.deepcopy(SAFE["webhooks"][0]["namespaceSelector"])
        del sel["matchLabels"]
        self.assert_one_problem(broken(namespaceSelector=sel), "failurePolicy Fail without requiring")
        # failurePolicy defaults to Fail
        self.assert_one_problem(broken(namespaceSelector=sel, failurePolicy=None), "failurePolicy Fail")
        self.assertEqual(self.problems(broken(namespaceSelector=sel, failurePolicy="Ignore")), [])

    def test_opt_in_by_expression_counts(self):
        sel = copy.deepcopy(SAFE["webhooks"][0]["namespaceSelector"])
        del sel["matchLabels"]
        sel["matchExpressions"].append({"key": "portcullis.dev/enforce", "operator": "In", "values": ["true"]})
        self.assertEqual(self.problems(broken(namespaceSelector=sel)), [])

    def test_delete_and_connect_are_never_asked_for(self):
        rules = [{"operations": ["CREATE", "DELETE"]}, {"operations": ["*"]}]
        self.assert_one_problem(broken(rules=rules), "rules include ['*', 'DELETE']")

    def test_a_ca_bundle_or_injection_is_needed(self):
        doc = copy.deepcopy(SAFE)
        doc["metadata"]["annotations"] = {}
        self.assert_one_problem(doc, "no caBundle and no cert-manager.io/inject-ca-from")
        doc["webhooks"][0]["clientConfig"] = {"caBundle": "LS0t"}
        self.assertEqual(self.problems(doc), [])


class Folder(unittest.TestCase):
    def run_main(self, docs):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "r.yaml"), "w") as fh:
                yaml.safe_dump_all(docs, fh)
            with contextlib.redirect_stdout(io.StringIO()):
                return ws.main(["webhook_safety.py", d])

    def test_a_broken_rendering_fails(self):
        self.assertEqual(
            self.run_main([{"kind": "ConfigMap", "metadata": {"name": "x"}}, broken(sideEffects="Some")]), 1
        )

    def test_a_safe_rendering_passes(self):
        self.assertEqual(self.run_main([SAFE]), 0)

    def test_no_webhook_configuration_at_all_fails(self):
        self.assertEqual(self.run_main([{"kind": "ConfigMap", "metadata": {"name": "x"}}]), 1)


if __name__ == "__main__":
    unittest.main()
