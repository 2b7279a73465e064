"""Safety rules for the admission webhook configurations that deploy/ renders.

    python webhook_safety.py RENDERED_DIR    one line per problem, then "summary: ..."; exit 1 on any

A webhook that is down must not take the cluster with it (threat model D1, docs/runbooks/break-glass.md):
  - a CA bundle, or cert-manager's inject-ca-from annotation
  - sideEffects None; timeoutSeconds 1..15 (API server max 30, default 10; keep headroom);
    admissionReviewVersions includes v1
  - namespaceSelector excludes kube-system and portcullis-system (kubernetes.io/metadata.name NotIn)
  - failurePolicy Fail (the default) only where a namespace opted in with portcullis.dev/enforce=true
  - rules ask for CREATE/UPDATE only, never DELETE, CONNECT or *

Used by pipelines/validate/webhooks.sh. Finding no webhook configuration at all is a failure too.
"""

import glob
import os
import sys

import yaml

KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
ALWAYS_EXCLUDED = {"kube-system", "portcullis-system"}
OPT_IN_KEY = "portcullis.dev/enforce"
NAME_LABEL = "kubernetes.io/metadata.name"
NEVER_OPERATIONS = {"DELETE", "CONNECT", "*"}
MAX_TIMEOUT = 15


def _excluded_namespaces(selector):
    excluded = set()
    for e in selector.get("matchExpressions") or []:
        if e.get("key") == NAME_LABEL and e.get("operator") == "NotIn":
            excluded |= set(e.get("values") or [])
    return excluded


def _opted_in(selector):
    if (selector.get("matchLabels") or {}).get(OPT_IN_KEY) == "true":
        return True
    return any(
        e.get("key") == OPT_IN_KEY and e.get("operator") == "In" and e.get("values") == ["true"]
        for e in selector.get("matchExpressions") or []
    )


def check_webhook(w, where):
    """Problems of one entry of a configuration's webhooks list."""
    problems = []
    if w.get("sideEffects") != "None":
        problems.append(f"{where}: sideEffects is {w.get('sideEffects')!r}, want 'None'")
    t = w.get("timeoutSeconds")
    if not isinstance(t, int) or isinstance(t, bool) or not 1 <= t <= MAX_TIMEOUT:
        problems.append(
            f"{where}: timeoutSeconds is {t!r}, want 1..{MAX_TIMEOUT} (API server max 30, default 10; keep headroom)"
        )
    if "v1" not in (w.get("admissionReviewVersions") or []):
        problems.append(f"{where}: admissionReviewVersions {w.get('admissionReviewVersions')!r} lacks v1")
    sel = w.get("namespaceSelector") or {}
    missing = ALWAYS_EXCLUDED - _excluded_namespaces(sel)
    if missing:
        problems.append(f"{where}: namespaceSelector does not exclude {sorted(missing)} ({NAME_LABEL} NotIn)")
    # Fail closed only where a namespace opted in; failurePolicy defaults to Fail.
    if w.get("failurePolicy", "Fail") == "Fail" and not _opted_in(sel):
        problems.append(f"{where}: failurePolicy Fail without requiring {OPT_IN_KEY}=true")
    ops = {op for r in w.get("rules") or [] for op in r.get("operations") or []}
    if ops & NEVER_OPERATIONS:
        problems.append(f"{where}: rules include {sorted(ops & NEVER_OPERATIONS)}; only CREATE/UPDATE are needed")
    return problems


def check_configuration(doc, source):
    """(webhook entries seen, problems) of one Validating/MutatingWebhookConfiguration."""
    cfg = f"{source}: {doc['kind']}/{doc['metadata']['name']}"
    problems = []
    webhooks = doc.get("webhooks") or []
    injected = "cert-manager.io/inject-ca-from" in (doc["metadata"].get("annotations") or {})
    if not injected and not all(w.get("clientConfig", {}).get("caBundle") for w in webhooks):
        problems.append(f"{cfg}: no caBundle and no cert-manager.io/inject-ca-from annotation")
    for w in webhooks:
        problems += check_webhook(w, f"{cfg} webhook {w.get('name')}")
    return len(webhooks), problems


def check_dir(rendered):
    """(webhook entries seen, problems) over every rendering in a folder."""
    seen, problems = 0, []
    for f in sorted(glob.glob(os.path.join(rendered, "*.yaml"))):
        with open(f) as fh:
            docs = list(yaml.safe_load_all(fh))
        for doc in docs:
            if doc and doc.get("kind") in KINDS:
                n, p = check_configuration(doc, os.path.basename(f))
                seen += n
                problems += p
    return seen, problems


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: webhook_safety.py RENDERED_DIR")
    seen, problems = check_dir(argv[1])
    for p in problems:
        print(p)
    if seen == 0:
        print("no admission webhook configurations found in any rendering")
        problems.append("none")
    print(f"summary: {seen} webhook entries checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
