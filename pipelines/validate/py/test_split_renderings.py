"""Unit tests of split_renderings and schema_fix (pipelines/test.sh runs them with python -m unittest)."""

import json
import os
import tempfile
import unittest

import yaml

import schema_fix
import split_renderings as sr

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "jobs"}}
POLICY = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny"}}
CERT = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "tls", "namespace": "jobs"}}


class Split(unittest.TestCase):
    def test_builtin_kinds_and_custom_resources_go_apart(self):
        self.assertTrue(sr.is_builtin(""))
        self.assertTrue(sr.is_builtin("apps"))
        self.assertTrue(sr.is_builtin("networking.k8s.io"))
        self.assertFalse(sr.is_builtin("cert-manager.io"))
        with tempfile.TemporaryDirectory() as work:
            for d in ("rendered", "builtin", "custom"):
                os.makedirs(os.path.join(work, d))
            with open(os.path.join(work, "rendered", "deploy_base.yaml"), "w") as fh:
                yaml.safe_dump_all([DEPLOYMENT, None, CERT, POLICY], fh)
            self.assertEqual(sr.split(work), 1)
            with open(os.path.join(work, "builtin", "deploy_base.yaml")) as fh:
                self.assertEqual([d["kind"] for d in yaml.safe_load_all(fh)], ["Deployment", "NetworkPolicy"])
            obj = os.path.join(
                work, "custom", "cert-manager.io__certificate_v1", "deploy_base--Certificate--jobs--tls.json"
            )
            with open(obj) as fh:
                self.assertEqual(json.load(fh), CERT)


class SchemaFix(unittest.TestCase):
    def test_the_known_inline_flag_is_spelled_out(self):
        text = '{"pattern": "^(?i)(abort|warn)?$"}'
        self.assertTrue(schema_fix.needs_fix(text))
        self.assertEqual(schema_fix.spell_out(text), '{"pattern": "^([Aa][Bb][Oo][Rr][Tt]|[Ww][Aa][Rr][Nn])?$"}')

    def test_an_unknown_inline_flag_is_an_error(self):
        with self.assertRaises(schema_fix.UnknownInlineFlag):
            schema_fix.spell_out('{"pattern": "^(?i)yes$"}')


if __name__ == "__main__":
    unittest.main()
