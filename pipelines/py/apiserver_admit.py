"""Admit one AdmissionReview the way the API server's webhook dispatcher decides it.

Used by the disaster-recovery drills (pipelines/drills/), which have no API server: given the
rendered Mutating/ValidatingWebhookConfigurations (`kubectl kustomize deploy/overlays/ENV/webhook`),
the namespace's labels and the review, it calls every matching webhook in the API server's order
(mutating first, then validating) over TLS verified against the CA bundle, with `?timeout=` from
`timeoutSeconds`, through curl and `--resolve` so the service name is what TLS verifies. A call
that fails (refused, TLS error, timeout, non-200) follows the webhook's failurePolicy: Ignore
admits ("failed open"), Fail rejects with "failed calling webhook". A webhook's `allowed: false`
rejects.

It evaluates namespaceSelector (matchLabels and matchExpressions, with the API server's automatic
`kubernetes.io/metadata.name` label) and rules (group, version, resource, operation); it does
not evaluate matchConditions (CEL) or objectSelector. `rehearse` (webhook/rehearsal) does all of
that against a running webhook; this module is the small, scriptable part the drills need.

Prints one JSON line: {"admitted": bool, "by": "...", "message": "..."}; exit 0 admitted, 1 not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import yaml

KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


def selector_matches(selector: dict | None, labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector; an empty or missing selector matches everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown selector operator {op!r}")
    return True


def rule_matches(rules: list[dict], request: dict) -> bool:
    res = request["resource"]

    def has(items: list[str], value: str) -> bool:
        return "*" in items or value in items

    return any(
        has(r.get("apiGroups", []), res["group"])
        and has(r.get("apiVersions", []), res["version"])
        and has(r.get("resources", []), res["resource"])
        and has(r.get("operations", []), request["operation"])
        for r in rules
    )


def webhooks(docs: list[dict]) -> list[tuple[str, dict]]:
    """(kind, webhook) in the API server's order: every mutating webhook, then every validating one."""
    out = []
    for kind in KINDS:
        for doc in docs:
            if doc and doc.get("kind") == kind:
                out.extend((kind, w) for w in doc.get("webhooks") or [])
    return out


def call(webhook: dict, review: Path, address: str, cacert: Path) -> tuple[dict | None, str]:
    """POSTs the review; (response, "") or (None, why the call failed)."""
    svc = webhook["clientConfig"]["service"]
    host = f"{svc['name']}.{svc['namespace']}.svc"
    port = svc.get("port", 443)
    timeout = webhook.get("timeoutSeconds", 10)
    url = f"https://{host}:{port}{svc.get('path', '/')}?timeout={timeout}s"
    cmd = [
        "curl", "-sS", "--fail-with-body", "--max-time", str(timeout), "--cacert", str(cacert),
        "--connect-to", f"{host}:{port}:{address}", "-H", "Content-Type: application/json",
        "--data-binary", f"@{review}", url,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None, f'Post "{url}": {done.stderr.strip() or f"curl exit {done.returncode}"}'
    try:
        return json.loads(done.stdout)["response"], ""
    except (ValueError, KeyError, TypeError) as e:
        return None, f'Post "{url}": unreadable AdmissionReview response: {e}'


def admit(docs: list[dict], labels: dict[str, str], review: Path, address: str, cacert: Path) -> dict:
    request = json.loads(review.read_text())["request"]
    labels = {**labels, "kubernetes.io/metadata.name": request["namespace"]}
    called = []
    for _kind, hook in webhooks(docs):
        if not selector_matches(hook.get("namespaceSelector"), labels):
            continue
        if not rule_matches(hook.get("rules") or [], request):
            continue
        name = hook["name"]
        response, error = call(hook, review, address, cacert)
        if response is None:
            policy = hook.get("failurePolicy", "Fail")
            if policy == "Ignore":
                called.append(f"{name} failed open (failurePolicy Ignore)")
                continue
            return {
                "admitted": False,
                "by": f"{name} failurePolicy Fail",
                "message": f'Internal error occurred: failed calling webhook "{name}": {error}',
            }
        if not response.get("allowed"):
            msg = (response.get("status") or {}).get("message", "")
            return {
                "admitted": False,
                "by": name,
                "message": f'admission webhook "{name}" denied the request: {msg}',
            }
        called.append(f"{name} allowed")
    return {
        "admitted": True,
        "by": "; ".join(called) or "not sent (no webhook matches)",
        "message": "",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, required=True, help="rendered webhook configurations (YAML)")
    p.add_argument("--labels", default="{}", help="the namespace's labels, as a JSON object")
    p.add_argument("--review", type=Path, required=True, help="the AdmissionReview (JSON)")
    p.add_argument("--address", required=True, help="where the Service's name leads, HOST:PORT")
    p.add_argument("--cacert", type=Path, required=True, help="the caBundle, PEM")
    args = p.parse_args(argv)
    docs = list(yaml.safe_load_all(args.config.read_text()))
    if not webhooks(docs):
        print(f"{args.config}: no Mutating/ValidatingWebhookConfiguration webhooks", file=sys.stderr)
        return 2
    result = admit(docs, json.loads(args.labels), args.review, args.address, args.cacert)
    print(json.dumps(result))
    return 0 if result["admitted"] else 1


if __name__ == "__main__":
    sys.exit(main())
