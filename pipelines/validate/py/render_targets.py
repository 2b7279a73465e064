"""The folders under deploy/ that must render, and how.

    python render_targets.py ROOT    prints "<kind>\t<dir>" lines, sorted by folder

Kinds:
  kustomize  a folder with a kustomization.yaml (components excluded: they render through the
             overlays that include them)
  flux-root  a cluster entry folder, or a Flux Kustomization path without a kustomization.yaml
             (Flux generates one that includes every manifest below it)

Every path a Flux Kustomization points at must exist. Git sources carry the whole repository; the
prod OCIRepository carries deploy/ (pushed with `flux push artifact --path=./deploy`). Used by
pipelines/validate/render.sh; it reads files only.
"""

import glob
import os
import sys

import yaml

FLUX_KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/"


class TargetError(Exception):
    """A Flux Kustomization that points nowhere, or at an unknown kind of source."""


def _add(targets, kind, path, why, root):
    path = os.path.normpath(path)
    if not os.path.isdir(path):
        raise TargetError(f"{why} points at {os.path.relpath(path, root)}, which does not exist")
    targets.setdefault(path, kind)


def _load_all(path):
    with open(path) as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def flux_kustomizations(path):
    """The Flux Kustomization documents in one YAML file."""
    return [
        doc
        for doc in _load_all(path)
        if doc.get("kind") == "Kustomization" and str(doc.get("apiVersion", "")).startswith(FLUX_KUSTOMIZATION_API)
    ]


def targets(root):
    """Returns [(kind, folder)] for the tree at root, sorted by folder; raises TargetError."""
    deploy = os.path.join(root, "deploy")
    found = {}
    for k in glob.glob(os.path.join(deploy, "**", "kustomization.yaml"), recursive=True):
        with open(k) as fh:
            doc = yaml.safe_load(fh) or {}
        if doc.get("kind") == "Component":
            continue
        _add(found, "kustomize", os.path.dirname(k), k, root)

    source_roots = {"GitRepository": root, "OCIRepository": deploy}
    for cluster in sorted(glob.glob(os.path.join(deploy, "clusters", "*"))):
        _add(found, "flux-root", cluster, "a cluster entry folder", root)
        for f in sorted(glob.glob(os.path.join(cluster, "**", "*.yaml"), recursive=True)):
            for doc in flux_kustomizations(f):
                spec = doc.get("spec", {})
                src = spec.get("sourceRef", {}).get("kind", "GitRepository")
                if src not in source_roots:
                    raise TargetError(f"{f}: unknown sourceRef kind {src}")
                path = os.path.join(source_roots[src], spec.get("path", "./"))
                kind = "kustomize" if os.path.exists(os.path.join(path, "kustomization.yaml")) else "flux-root"
                _add(found, kind, path, f"{os.path.relpath(f, root)} ({doc['metadata']['name']})", root)
    return [(kind, path) for path, kind in sorted(found.items())]


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: render_targets.py ROOT")
    try:
        for kind, path in targets(argv[1]):
            print(f"{kind}\t{path}")
    except TargetError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main(sys.argv)
