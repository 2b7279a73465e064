#!/usr/bin/env python3
"""Keeps the telemetry configuration in observability/ and its deployment in deploy/ consistent.

  telemetry.py sync                  writes the generated files: deploy/infrastructure/telemetry/
                                     values/*.yaml (chart values wrapping the collector, Uptrace and
                                     Alloy configurations) and the copy of this folder's rules
                                     kustomization in deploy/infrastructure/observability (prod)
  telemetry.py check RENDERED_DIR OUT  fails (exit 1) on every inconsistency, one line each; RENDERED_DIR
                                     holds the kustomize renderings of pipelines/validate-manifests.sh,
                                     OUT receives the LogQL exprs (JSON) for logql-parse.mjs

What `check` does not do: run the OpenTelemetry Collector, Uptrace, Loki or Alloy (none is
installable offline here). It checks their files' structure and the names, ports, labels and
secrets they share with each other and with deploy/; LogQL syntax is checked by logql-parse.mjs.
"""
import glob
import json
import os
import re
import sys

import yaml

try:  # in the validation venv (check-jsonschema depends on it); `sync` does not need it
    import jsonschema
except ImportError:  # pragma: no cover
    jsonschema = None

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
OBS = os.path.join(ROOT, "observability")
TELEMETRY = os.path.join(ROOT, "deploy/infrastructure/telemetry")
PROD_COPY = os.path.join(ROOT, "deploy/infrastructure/observability")
HEADER = "# Generated from {src}\n# by `python3 observability/checks/telemetry.py sync`; do not edit.\n"


class BlockDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so the generated values stay readable."""


BlockDumper.add_representer(str, lambda d, s: d.represent_scalar(
    "tag:yaml.org,2002:str", s, style="|" if "\n" in s else None))


def rel(path):
    return os.path.relpath(path, ROOT)


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def read_text(path):
    with open(path) as f:
        return f.read()


# === generated files ============================================================================

def generated():
    """Path -> exact content of every generated file."""
    out = {}
    def values(name, src, doc):
        text = HEADER.format(src=rel(src)) + yaml.dump(doc, Dumper=BlockDumper, sort_keys=False, width=100)
        out[os.path.join(TELEMETRY, "values", name)] = text
    src = os.path.join(OBS, "otel-collector/config.yaml")
    values("otel-collector.yaml", src, {"alternateConfig": load(src)})
    src = os.path.join(OBS, "uptrace/uptrace.yml")
    values("uptrace.yaml", src, {"uptrace": {"config": load(src)}})
    src = os.path.join(OBS, "alloy/config.alloy")
    with open(src) as f:
        values("alloy.yaml", src, {"alloy": {"configMap": {"create": True, "content": f.read()}}})
    # prod: the rules kustomization, byte for byte.
    for src in [os.path.join(OBS, "kustomization.yaml"), os.path.join(OBS, "prometheusrule.yaml")] \
            + sorted(glob.glob(os.path.join(OBS, "loki/rules/*.yaml"))):
        with open(src) as f:
            out[os.path.join(PROD_COPY, os.path.relpath(src, OBS))] = f.read()
    return out


def sync():
    want = generated()
    for path, text in want.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    for path in glob.glob(os.path.join(PROD_COPY, "**", "*.yaml"), recursive=True):
        if path not in want:
            os.remove(path)
    print(f"wrote {len(want)} files")


# === checks =====================================================================================

class Report:
    def __init__(self):
        self.problems = []

    def fail(self, where, what):
        self.problems.append(f"{where}: {what}")


def helmreleases():
    out = {}
    for path in glob.glob(os.path.join(TELEMETRY, "*.yaml")):
        for doc in yaml.safe_load_all(read_text(path)):
            if doc and doc.get("kind") == "HelmRelease":
                out[doc["metadata"]["name"]] = (path, doc)
    return out


def service_host(hr):
    spec = hr["spec"]
    return f"{spec['values']['fullnameOverride']}.{spec['targetNamespace']}.svc"


def check_generated(r):
    for path, text in generated().items():
        if not os.path.isfile(path):
            r.fail(rel(path), "missing; run `python3 observability/checks/telemetry.py sync`")
        elif read_text(path) != text:
            r.fail(rel(path), "out of date with its source; run `python3 observability/checks/telemetry.py sync`")
    want = set(generated())
    for path in glob.glob(os.path.join(PROD_COPY, "**", "*.yaml"), recursive=True):
        if path not in want:
            r.fail(rel(path), "not a copy of a file in observability/; run the sync")


def env_refs(text):
    return set(re.findall(r"\$\{env:(\w+)\}", text))


def check_collector(r, hrs):
    src = os.path.join(OBS, "otel-collector/config.yaml")
    where, cfg, text = rel(src), load(src), read_text(src)
    path, hr = hrs["otel-collector"]
    values = hr["spec"]["values"]
    kinds = ("receivers", "processors", "exporters", "extensions", "connectors")
    for key in cfg:
        if key not in kinds + ("service",):
            r.fail(where, f"unknown top-level key {key!r}")
    # Component types of the contrib distribution this configuration may use.
    known = {"receivers": {"otlp"}, "processors": {"memory_limiter", "batch"},
             "exporters": {"otlp", "otlphttp", "prometheus", "debug"}, "extensions": {"health_check"}}
    defined = {k: set(cfg.get(k) or {}) for k in kinds}
    for kind, names in defined.items():
        for name in names:
            if name.split("/")[0] not in known.get(kind, set()):
                r.fail(where, f"{kind}.{name}: type {name.split('/')[0]!r} is not one this check knows")
    service = cfg.get("service") or {}
    used = {k: set() for k in kinds}
    for ext in service.get("extensions") or []:
        used["extensions"].add(ext)
    pipelines = service.get("pipelines") or {}
    for want in ("traces", "metrics"):
        if want not in pipelines:
            r.fail(where, f"no {want} pipeline")
    for name, p in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for c in p.get(kind) or []:
                used[kind].add(c)
                if c not in defined[kind]:
                    r.fail(where, f"pipeline {name} uses {kind}.{c}, which is not defined")
        procs = p.get("processors") or []
        if not procs or procs[0] != "memory_limiter" or procs[-1] != "batch":
            r.fail(where, f"pipeline {name}: processors must start with memory_limiter and end with batch, not {procs}")
    for kind in kinds:
        for c in defined[kind] - used[kind]:
            r.fail(where, f"{kind}.{c} is defined but not used")
    if "health_check" not in used["extensions"]:
        r.fail(where, "health_check is not enabled in service.extensions")
    protocols = ((cfg.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}
    for proto, port in (("grpc", 4317), ("http", 4318)):
        endpoint = str((protocols.get(proto) or {}).get("endpoint", ""))
        if not endpoint.endswith(f":{port}"):
            r.fail(where, f"receivers.otlp.protocols.{proto}.endpoint {endpoint!r} is not on port {port}")
    uptrace = (cfg.get("exporters") or {}).get("otlp/uptrace") or {}
    dsn = (uptrace.get("headers") or {}).get("uptrace-dsn", "")
    if not re.fullmatch(r"\$\{env:\w+\}", str(dsn)):
        r.fail(where, "exporters.otlp/uptrace.headers.uptrace-dsn must come from the environment (${env:...}), "
               "never a literal DSN")
    uhr = hrs["uptrace"][1]
    want = f"{service_host(uhr)}:{uhr['spec']['values']['uptrace']['service']['grpc_port']}"
    if uptrace.get("endpoint") != want:
        r.fail(where, f"exporters.otlp/uptrace.endpoint {uptrace.get('endpoint')!r} "
               f"is not Uptrace's gRPC Service {want!r}")
    provided = {"MY_POD_IP"} | {e["name"] for e in values.get("extraEnvs", [])}
    for var in env_refs(text) - provided:
        r.fail(where, f"${{env:{var}}} is set neither by the chart (MY_POD_IP) nor by extraEnvs in {rel(path)}")
    ports = values.get("ports", {})
    prom = str(((cfg.get("exporters") or {}).get("prometheus") or {}).get("endpoint", ""))
    if not prom.endswith(f":{ports.get('prom-exporter', {}).get('containerPort')}"):
        r.fail(rel(path), f"ports.prom-exporter does not expose the prometheus exporter's {prom!r}")
    for ep in values.get("serviceMonitor", {}).get("metricsEndpoints", []):
        if not ports.get(ep.get("port"), {}).get("enabled"):
            r.fail(rel(path), f"serviceMonitor endpoint port {ep.get('port')!r} is not an enabled port")


def merged_values(path, hr):
    """spec.values over the generated valuesFrom files, as the helm-controller merges them."""
    def merge(a, b):
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out
    values = {}
    for ref in hr["spec"].get("valuesFrom") or []:
        name = ref["name"].replace("-values", "")
        values = merge(values, load(os.path.join(TELEMETRY, "values", f"{name}.yaml")))
    return merge(values, hr["spec"].get("values") or {})


def check_chart_schemas(r, hrs):
    """Values of the charts whose values.schema.json is kept here (Helm validates against it)."""
    schemas = {"otel-collector": os.path.join(OBS, "otel-collector/chart/values.schema.json")}
    if jsonschema is None:
        r.fail("telemetry.py", "the jsonschema module is missing (run it with the validation venv)")
        return 0
    for name, schema_path in schemas.items():
        path, hr = hrs[name]
        schema = json.loads(read_text(schema_path))
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        for e in cls(schema).iter_errors(merged_values(path, hr)):
            where = "/".join(str(p) for p in e.absolute_path) or "(top)"
            r.fail(rel(path), f"values {where}: {e.message} (chart schema {rel(schema_path)})")
    return len(schemas)


def check_otlp_endpoints(r, hrs, rendered):
    hr = hrs["otel-collector"][1]
    want = f"http://{service_host(hr)}:4317"
    seen, egress_ok = {}, {}
    for f in sorted(glob.glob(os.path.join(rendered, "*.yaml"))):
        for doc in yaml.safe_load_all(read_text(f)):
            if not doc:
                continue
            ns = doc.get("metadata", {}).get("namespace", "")
            if doc.get("kind") == "NetworkPolicy":
                for rule in doc["spec"].get("egress") or []:
                    to_mon = any((t.get("namespaceSelector") or {}).get("matchLabels", {})
                                 .get("kubernetes.io/metadata.name") == "monitoring" for t in rule.get("to") or [])
                    if to_mon and any(p.get("port") == 4317 for p in rule.get("ports") or []):
                        egress_ok[ns] = True
            pod = doc.get("spec", {}).get("template", {}).get("spec", {})
            for c in pod.get("containers") or []:
                for e in c.get("env") or []:
                    if e.get("name") == "OTEL_EXPORTER_OTLP_ENDPOINT":
                        key = (doc["kind"], ns, doc["metadata"]["name"])
                        seen.setdefault(key, set()).add((e.get("value"), os.path.basename(f)))
    names = {n for (_, _, n) in seen}
    for need in ("portcullis", "jobs-api", "jobs-worker"):
        if need not in names:
            r.fail("renderings", f"{need} sets no OTEL_EXPORTER_OTLP_ENDPOINT")
    for (kind, ns, name), values in sorted(seen.items()):
        for value, f in sorted(values):
            if value != want:
                r.fail(f, f"{kind} {ns}/{name}: OTEL_EXPORTER_OTLP_ENDPOINT {value!r}, but the collector is {want!r}")
        if not egress_ok.get(ns):
            r.fail("renderings", f"{kind} {ns}/{name} exports OTLP but no NetworkPolicy in {ns} "
                   "allows egress to monitoring:4317")
    return len(seen)


def check_uptrace(r, hrs):
    src = os.path.join(OBS, "uptrace/uptrace.yml")
    where, cfg = rel(src), load(src)
    values = hrs["uptrace"][1]["spec"]["values"]["uptrace"]
    secret_fields = [("secret_key", cfg.get("secret_key")), ("pg.password", (cfg.get("pg") or {}).get("password"))]
    secret_fields += [(f"projects[{i}].token", p.get("token")) for i, p in enumerate(cfg.get("projects") or [])]
    secret_fields += [(f"auth.users[{i}].password", u.get("password"))
                      for i, u in enumerate((cfg.get("auth") or {}).get("users") or [])]
    for field, value in secret_fields:
        if not re.fullmatch(r"\$\{\w+\}", str(value)):
            r.fail(where, f"{field} must be an environment reference ${{VAR}}, not a literal")
    ext = load(os.path.join(TELEMETRY, "uptrace-secret.yaml"))
    provided = set(ext["spec"]["target"]["template"]["data"]) | {e["name"] for e in values.get("env", [])}
    strings = []
    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str):
            strings.append(v)
    walk(cfg)
    for var in {m for v in strings for m in re.findall(r"\$\{(\w+)(?::[^}]*)?\}", v)} - provided:
        r.fail(where, f"${{{var}}} is provided neither by the ExternalSecret uptrace nor by uptrace.env")
    listen = cfg.get("listen") or {}
    for proto, key in (("grpc", "grpc_port"), ("http", "http_port")):
        if str((listen.get(proto) or {}).get("addr")) != f":{values['service'][key]}":
            r.fail(where, f"listen.{proto}.addr differs from the chart's uptrace.service.{key}")
    dsn = ext["spec"]["target"]["template"]["data"].get("UPTRACE_DSN", "")
    host = f"{service_host(hrs['uptrace'][1])}:{values['service']['grpc_port']}"
    project = (cfg.get("projects") or [{}])[0].get("id")
    if not dsn.endswith(f"@{host}/{project}"):
        r.fail(rel(os.path.join(TELEMETRY, "uptrace-secret.yaml")),
               f"UPTRACE_DSN {dsn!r} is not project {project} at {host}")


def alloy_blocks(text):
    """Strips comments and strings; returns (declared components, referenced components, balance problem)."""
    code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', re.sub(r"//[^\n]*", "", text))
    depth = {"{": 0, "[": 0, "(": 0}
    closing = {"}": "{", "]": "[", ")": "("}
    for ch in code:
        if ch in depth:
            depth[ch] += 1
        elif ch in closing:
            depth[closing[ch]] -= 1
            if depth[closing[ch]] < 0:
                return set(), set(), f"unbalanced {ch!r}"
    if any(depth.values()):
        return set(), set(), f"unclosed brackets {depth}"
    declared = {f"{m[0]}.{m[1]}" for m in re.findall(r'^\s*([a-z_]+(?:\.[a-z_]+)+)\s+"([\w-]+)"\s*\{', text, re.M)}
    component = r"\b((?:discovery|loki|prometheus|otelcol)\.[a-z_.]+)\.(?:receiver|targets|output)\b"
    refs = set(re.findall(component, code))
    return declared, refs, None


def check_alloy(r, hrs):
    src = os.path.join(OBS, "alloy/config.alloy")
    where, text = rel(src), read_text(src)
    declared, refs, problem = alloy_blocks(text)
    if problem:
        r.fail(where, problem)
        return set()
    for ref in sorted(refs - declared):
        r.fail(where, f"{ref} is referenced but not declared")
    loki = hrs["loki"][1]
    want = f"http://{service_host(loki)}:3100/loki/api/v1/push"
    if f'url = "{want}"' not in text:
        r.fail(where, f"loki.write must push to the Loki Service, {want}")
    return set(re.findall(r'target_label\s*=\s*"(\w+)"', text)) | {"level"}


RUNBOOK_URL = "https://github.com/portcullis-dev/portcullis/blob/main/"


def runbook_problem(alert, url, root=ROOT):
    """Why an alert's runbook_url does not resolve, or None: it must be RUNBOOK_URL followed by the
    alert's own runbook, docs/runbooks/<alert>.md, an existing file of root; an anchor, if any, must
    be one of its headings (GitHub's slugs). Same rule as pipelines/validate/py/obs_lint.py, which
    also rejects runbooks without an alert."""
    m = re.match(re.escape(RUNBOOK_URL) + r"([^#]+)(?:#(.+))?$", url)
    if not m:
        return f"runbook_url {url!r} is not a file of this repository ({RUNBOOK_URL}...)"
    path, anchor, want = m.group(1), m.group(2), f"docs/runbooks/{alert}.md"
    if path != want:
        return f"runbook_url points at {path}, not at the alert's own runbook {want}"
    if not os.path.isfile(os.path.join(root, path)):
        return f"runbook_url points at {path}, which does not exist"
    slugs = {re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", h.strip().lower()))
             for h in re.findall(r"^#{1,6}\s+(.+)$", read_text(os.path.join(root, path)), re.M)}
    if anchor and anchor not in slugs:
        return f"{path} has no heading for #{anchor}"
    return None


def check_loki_rules(r, hrs, stream_labels):
    dep = load(os.path.join(ROOT, "deploy/base/webhook/deployment.yaml"))
    webhook = {"namespace": dep["metadata"]["namespace"],
               "container": dep["spec"]["template"]["spec"]["containers"][0]["name"]}
    gen = load(os.path.join(OBS, "kustomization.yaml")).get("configMapGenerator") or []
    shipped = {f for g in gen for f in g.get("files", [])}
    loki_values = hrs["loki"][1]["spec"]["values"]
    sidecar = loki_values["sidecar"]["rules"]
    rules_dir = loki_values["loki"]["structuredConfig"]["ruler"]["storage"]["local"]["directory"]
    tenant = "fake" if loki_values["loki"].get("auth_enabled") is False else None
    if sidecar.get("folder") != f"{rules_dir}/{tenant}":
        r.fail(rel(hrs["loki"][0]), f"sidecar.rules.folder {sidecar.get('folder')!r} is not the ruler's "
               f"directory for the single tenant ({rules_dir}/fake, with auth_enabled: false): no rule would load")
    for g in gen:
        labels = (g.get("options") or {}).get("labels") or {}
        if labels.get(sidecar["label"]) != sidecar["labelValue"] or g.get("namespace") != "monitoring":
            r.fail("observability/kustomization.yaml", f"{g['name']}: needs namespace monitoring and label "
                   f"{sidecar['label']}={sidecar['labelValue']!r} (the loki chart's rules sidecar)")
    exprs = []
    for f in sorted(glob.glob(os.path.join(OBS, "loki/rules/*.yaml"))):
        if os.path.relpath(f, OBS) not in shipped:
            r.fail(rel(f), "not in the configMapGenerator of observability/kustomization.yaml")
        for g in load(f).get("groups") or []:
            for rule in g.get("rules") or []:
                name = rule.get("alert") or rule.get("record")
                where = f"{rel(f)}: {name}"
                exprs.append({"name": where, "expr": rule.get("expr", "")})
                if "alert" not in rule:
                    continue
                labels, notes = rule.get("labels") or {}, rule.get("annotations") or {}
                if labels.get("severity") not in ("critical", "warning", "info") or not labels.get("team"):
                    r.fail(where, "needs labels severity (critical|warning|info) and team")
                for key in ("summary", "description", "runbook_url"):
                    if not notes.get(key):
                        r.fail(where, f"no {key} annotation")
                problem = notes.get("runbook_url") and runbook_problem(rule["alert"], notes["runbook_url"])
                if problem:
                    r.fail(where, problem)
                for sel in re.findall(r"\{([^}]*)\}", rule.get("expr", "")):
                    for label, value in re.findall(r'(\w+)\s*=\s*"([^"]*)"', sel):
                        if label not in stream_labels:
                            r.fail(where, f"stream label {label!r} is not one Alloy sets ({sorted(stream_labels)})")
                        elif label in webhook and value != webhook[label]:
                            r.fail(where, f'{label}="{value}", but the webhook runs with {label}="{webhook[label]}"')
    return exprs


def check(rendered):
    r = Report()
    hrs = helmreleases()
    for need in ("otel-collector", "uptrace", "loki", "alloy"):
        if need not in hrs:
            r.fail(rel(TELEMETRY), f"no HelmRelease {need}")
    if r.problems:
        return r, []
    check_generated(r)
    check_collector(r, hrs)
    schemas = check_chart_schemas(r, hrs)
    workloads = check_otlp_endpoints(r, hrs, rendered)
    check_uptrace(r, hrs)
    labels = check_alloy(r, hrs)
    exprs = check_loki_rules(r, hrs, labels)
    print(f"stats: {workloads} OTLP senders, {len(exprs)} LogQL rules, {schemas} chart values schema-checked")
    return r, exprs


def main(argv):
    if argv[1:2] == ["sync"]:
        sync()
        return 0
    if argv[1:2] == ["check"] and len(argv) == 4:
        r, exprs = check(argv[2])
        with open(argv[3], "w") as f:
            json.dump(exprs, f)
        for p in r.problems:
            print(p)
        return 1 if r.problems else 0
    print(__doc__, file=sys.stderr)
    print("usage: telemetry.py sync | check RENDERED_DIR EXPRS_JSON_OUT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
