"""Lab 06 check, the part evaluate cannot judge: is it still the same workload, and does
log-shipper.yaml say what admission really gives the log-shipper container?

    python intent.py WRITTEN.json MUTATED.json ANSWER.yaml

WRITTEN is the Deployment as the student wrote it, MUTATED the same after the webhook's defaults
(`portcullis evaluate --show-patches` with policies/library/secure-defaults.yaml). Prints one
finding per line; prints nothing when all is well.
"""
import json
import re
import sys
from decimal import Decimal, InvalidOperation

import yaml

SUFFIX = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
          "Pi": 2**50, "Ei": 2**60}
# What the team states the workload needs (README): container, resource, kind, at least.
NEEDS = [("builder", "memory", "limits", "2Gi", "it holds a 1.5 GiB dataset in memory"),
         ("builder", "cpu", "requests", "500m", "the report must be done by 06:00"),
         ("fetch-dataset", "memory", "limits", "1Gi", "it unpacks the dataset in memory")]


def quantity(text):
    m = re.fullmatch(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?", str(text).strip())
    if not m:
        return None
    try:
        return Decimal(m.group(1)) * SUFFIX[m.group(2) or ""]
    except InvalidOperation:
        return None


def containers(deployment):
    spec = deployment.get("spec", {}).get("template", {}).get("spec", {})
    return {c.get("name"): c for c in spec.get("initContainers", []) + spec.get("containers", [])}


def effective(container, kind, resource):
    """What the API server stores: a missing request defaults to the limit."""
    res = container.get("resources") or {}
    value = (res.get(kind) or {}).get(resource)
    if value is None and kind == "requests":
        value = (res.get("limits") or {}).get(resource)
    return None if value is None else str(value)


def wrong_answer(kind, resource, said):
    # The check does not give the value away: the student finds it with --show-patches.
    print(f"log-shipper.yaml says {kind}.{resource} is {said}, but that is not what log-shipper runs with "
          f"once admitted (see what --show-patches adds, and what the API server defaults)")


def main(written_path, mutated_path, answer_path):
    with open(written_path) as f:
        written = containers(json.load(f))
    with open(mutated_path) as f:
        mutated = containers(json.load(f))
    for name, c in written.items():
        res = c.get("resources") or {}
        for r in ("cpu", "memory"):
            req, lim = (res.get("requests") or {}).get(r), (res.get("limits") or {}).get(r)
            if req is not None and lim is not None and quantity(req) is not None \
                    and quantity(lim) is not None and quantity(req) > quantity(lim):
                print(f"container {name}: resources.requests.{r} {req} is above its limit {lim}: the API "
                      f"server rejects such a pod (a request may be at most its limit)")
    shipper = written.get("log-shipper", {}).get("resources") or {}
    for kind in ("requests", "limits"):
        if (shipper.get(kind) or {}).get("memory") is not None:
            print(f"container log-shipper sets resources.{kind}.memory: its owners keep memory to the "
                  f"webhook's defaults, leave it unset and record what they give in log-shipper.yaml")
    for name, r, kind, least, why in NEEDS:
        if name not in mutated:
            continue
        have = effective(mutated[name], kind, r)
        if have is None or quantity(have) is None or quantity(have) < quantity(least):
            print(f"container {name} runs with {r} {kind[:-1]} {have or 'unset'} once admitted: it needs "
                  f"at least {least} ({why})")

    try:
        with open(answer_path) as f:
            answer = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        print(f"log-shipper.yaml cannot be read: {e}")
        return
    if "log-shipper" not in mutated:
        return
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            said = ((answer.get(kind) or {}) if isinstance(answer, dict) else {}).get(r)
            real = effective(mutated["log-shipper"], kind, r)
            said_text = "none" if said is None else str(said).strip()
            if said_text == "?":
                print(f"log-shipper.yaml: {kind}.{r} is not answered yet (a quantity, or none)")
            elif said_text.lower() == "none" or real is None:
                if (said_text.lower() == "none") != (real is None):
                    wrong_answer(kind, r, said_text)
            elif quantity(said_text) is None:
                print(f"log-shipper.yaml: {kind}.{r} \"{said_text}\" is not a Kubernetes quantity (e.g. 250m, 64Mi)")
            elif quantity(said_text) != quantity(real):
                wrong_answer(kind, r, said_text)


if __name__ == "__main__":
    main(*sys.argv[1:4])
