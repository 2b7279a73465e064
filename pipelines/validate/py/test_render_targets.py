"""Unit tests of render_targets (pipelines/test.sh runs them with python -m unittest)."""

import os
import unittest

import render_targets as rt
from treecase import TreeCase


class Tree(TreeCase):
    def rel(self, found):
        return [(kind, os.path.relpath(path, self.root)) for kind, path in found]

    def flux(self, name, path, source="GitRepository"):
        return (
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
            f"metadata: {{name: {name}}}\nspec: {{path: {path}, sourceRef: {{kind: {source}, name: s}}}}\n"
        )

    def test_kustomizations_render_and_components_do_not(self):
        self.write("deploy/base/app/kustomization.yaml", "resources: [a.yaml]\n")
        self.write("deploy/components/x/kustomization.yaml", "kind: Component\n")
        self.assertEqual(self.rel(rt.targets(self.root)), [("kustomize", "deploy/base/app")])

    def test_cluster_folders_and_what_flux_points_at(self):
        self.write("deploy/apps/dev/kustomization.yaml", "resources: []\n")
        self.write("deploy/infra/plain/a.yaml", "kind: ConfigMap\n")
        self.write(
            "deploy/clusters/dev/apps.yaml",
            self.flux("apps", "./deploy/apps/dev") + "---\n" + self.flux("infra", "./infra/plain", "OCIRepository"),
        )
        self.assertEqual(
            self.rel(rt.targets(self.root)),
            [
                ("kustomize", "deploy/apps/dev"),
                ("flux-root", "deploy/clusters/dev"),
                ("flux-root", "deploy/infra/plain"),
            ],
        )

    def test_a_flux_path_that_does_not_exist_is_an_error(self):
        self.write("deploy/clusters/dev/apps.yaml", self.flux("apps", "./deploy/apps/gone"))
        with self.assertRaisesRegex(rt.TargetError, r"\(apps\) points at deploy/apps/gone, which does not exist"):
            rt.targets(self.root)

    def test_an_unknown_source_kind_is_an_error(self):
        self.write("deploy/clusters/dev/apps.yaml", self.flux("apps", "./deploy", "Bucket"))
        with self.assertRaisesRegex(rt.TargetError, "unknown sourceRef kind Bucket"):
            rt.targets(self.root)


if __name__ == "__main__":
    unittest.main()
