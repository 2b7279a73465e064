"""apiserver_admit decides as the API server's webhook dispatcher: selector, rules, failurePolicy."""

import json
import socket
import tempfile
import unittest
from pathlib import Path

import apiserver_admit as aa

SELECTOR = {
    "matchExpressions": [
        {"key": "portcullis.dev/enforce", "operator": "In", "values": ["true"]},
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]},
    ]
}
RULES = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]


def config(policy: str) -> list[dict]:
    hook = {
        "name": "validate.portcullis.dev",
        "failurePolicy": policy,
        "timeoutSeconds": 2,
        "namespaceSelector": SELECTOR,
        "rules": RULES,
        "clientConfig": {"service": {"name": "portcullis", "namespace": "portcullis-system", "path": "/validate"}},
    }
    return [{"kind": "ValidatingWebhookConfiguration", "webhooks": [hook]}]


def closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    return f"127.0.0.1:{port}"


class SelectorTest(unittest.TestCase):
    def test_opted_in_namespace_matches(self):
        labels = {"portcullis.dev/enforce": "true", "kubernetes.io/metadata.name": "jobs"}
        self.assertTrue(aa.selector_matches(SELECTOR, labels))

    def test_label_missing_or_excluded_namespace_does_not_match(self):
        self.assertFalse(aa.selector_matches(SELECTOR, {"kubernetes.io/metadata.name": "jobs"}))
        labels = {"portcullis.dev/enforce": "true", "kubernetes.io/metadata.name": "kube-system"}
        self.assertFalse(aa.selector_matches(SELECTOR, labels))

    def test_unknown_operator_is_an_error(self):
        with self.assertRaises(ValueError):
            aa.selector_matches({"matchExpressions": [{"key": "a", "operator": "Gt"}]}, {})


class DecisionTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.review = Path(tmp.name) / "review.json"
        request = {
            "namespace": "jobs",
            "operation": "CREATE",
            "resource": {"group": "", "version": "v1", "resource": "pods"},
        }
        self.review.write_text(json.dumps({"request": request}))
        self.ca = Path(tmp.name) / "ca.crt"  # never read: the call fails before TLS
        self.ca.write_text("")

    def decide(self, policy: str, labels: dict) -> dict:
        return aa.admit(config(policy), labels, self.review, closed_port(), self.ca)

    def test_failed_call_rejects_under_fail(self):
        got = self.decide("Fail", {"portcullis.dev/enforce": "true"})
        self.assertFalse(got["admitted"])
        self.assertIn('failed calling webhook "validate.portcullis.dev"', got["message"])

    def test_failed_call_admits_under_ignore(self):
        got = self.decide("Ignore", {"portcullis.dev/enforce": "true"})
        self.assertTrue(got["admitted"])
        self.assertIn("failed open", got["by"])

    def test_namespace_out_of_scope_is_not_sent(self):
        got = self.decide("Fail", {})
        self.assertTrue(got["admitted"])
        self.assertEqual(got["by"], "not sent (no webhook matches)")

    def test_other_resources_are_not_sent(self):
        request = json.loads(self.review.read_text())
        request["request"]["resource"]["resource"] = "configmaps"
        self.review.write_text(json.dumps(request))
        self.assertTrue(self.decide("Fail", {"portcullis.dev/enforce": "true"})["admitted"])


if __name__ == "__main__":
    unittest.main()
