"""Splits the renderings for the schema checks.

    python split_renderings.py WORK    reads WORK/rendered/*.yaml, writes WORK/builtin and WORK/custom

  WORK/builtin/<rendering>.yaml   the built-in kinds of each rendering (core group, *.k8s.io), for
                                  kubernetes-validate
  WORK/custom/<group>__<kind>_<version>/<rendering>--<Kind>--<namespace>--<name>.json
                                  one file per custom resource, grouped by schema, for
                                  check-jsonschema

Used by pipelines/validate/render.sh; prints "<N> custom resources".
"""

import glob
import json
import os
import sys

import yaml


def is_builtin(group):
    """The core group ("") and the *.k8s.io groups; everything else has a CRD."""
    return "." not in group or group.endswith(".k8s.io")


def schema_key(doc):
    """'<group>/<kind>_<version>', the schema file a custom resource is checked against."""
    group, _, version = doc.get("apiVersion", "").rpartition("/")
    return f"{group}/{doc['kind'].lower()}_{version}"


def split(work):
    """Writes WORK/builtin and WORK/custom (both must exist); returns the custom resource count."""
    custom = 0
    for f in sorted(glob.glob(os.path.join(work, "rendered", "*.yaml"))):
        name = os.path.basename(f)
        with open(f) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d]
        builtin = [d for d in docs if is_builtin(d.get("apiVersion", "").rpartition("/")[0])]
        with open(os.path.join(work, "builtin", name), "w") as out:
            yaml.safe_dump_all(builtin, out, sort_keys=False)
        for d in docs:
            if is_builtin(d.get("apiVersion", "").rpartition("/")[0]):
                continue
            target = os.path.join(work, "custom", schema_key(d).replace("/", "__"))
            os.makedirs(target, exist_ok=True)
            ns = d.get("metadata", {}).get("namespace", "_")
            obj = f"{name[:-5]}--{d['kind']}--{ns}--{d['metadata']['name']}.json"
            with open(os.path.join(target, obj), "w") as out:
                json.dump(d, out)
            custom += 1
    return custom


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: split_renderings.py WORK")
    print(f"{split(argv[1])} custom resources")


if __name__ == "__main__":
    main(sys.argv)
