"""Lab 09's hidden scenarios: traffic histories the student's page must (not) fire on.

Usage: scenarios.py run PROMTOOL AMTOOL ALERTMANAGER_YML RECORDING_RULES ALERT_RULES OUTDIR
       scenarios.py recording REPO_RULES OUT   (the availability SLO's recording rules, alone)

Writes one promtool unit-test file per scenario into OUTDIR (rule_files: the repository's recording
rules and the student's alert file), runs `promtool test rules` on each and prints one line per
problem (nothing when every scenario behaves). Every scenario expects *no* alert at its eval
times: promtool's report of what fired anyway gives the labels of the alert, so a scenario that
must page passes only when promtool fails with a JobsApiAvailabilityBudgetBurnFast alert whose
labels the repository's Alertmanager routes to the workloads pager.

Traffic: 1,000 requests a minute from namespace jobs, job jobs-api; six hours of history first, so
every window up to 6h holds real data, as in production.
"""

import os
import re
import subprocess
import sys

import yaml

ALERT = "JobsApiAvailabilityBudgetBurnFast"
PAGER = "workloads-pager"
RATE = 1000  # requests a minute
H = 360  # minutes of history before the interesting part

# name, describe, [(minutes, error ratio)], eval minutes, must it page?
SCENARIOS = [
    (
        "fast-burn",
        "10 % errors starting after six quiet hours (100x the budget's burn rate)",
        [(H, 0.0), (30, 0.10)],
        [H + 15],
        True,
    ),
    ("quiet-history", "six hours without errors", [(H, 0.0), (30, 0.10)], [H - 1], False),
    (
        "blip",
        "a 5-minute blip of 5 % errors after six quiet hours (uses 0.6 % of the 30-day budget)",
        [(H, 0.0), (5, 0.05), (60, 0.0)],
        [H + 3, H + 5, H + 7, H + 10, H + 20],
        False,
    ),
    ("within-budget", "a steady 0.05 % of errors (within the 0.1 % budget)", [(H + 60, 0.0005)], [H, H + 60], False),
    (
        "slow-burn",
        "a steady 0.4 % of errors (4x: a ticket for the day, not a page at night)",
        [(H + 60, 0.004)],
        [H + 30, H + 60],
        False,
    ),
    (
        "burst-ended",
        "a 10-minute burst of 20 % errors that ended 35 minutes ago",
        [(H, 0.0), (10, 0.20), (40, 0.0)],
        [H + 45, H + 50],
        False,
    ),
]


def counters(segments):
    """Cumulative (ok, errors) counts, one sample a minute, from [(minutes, error ratio)]."""
    ok, err, oks, errs = 0, 0, [0], [0]
    for minutes, ratio in segments:
        for _ in range(minutes):
            e = round(RATE * ratio)
            ok, err = ok + RATE - e, err + e
            oks.append(ok)
            errs.append(err)
    return oks, errs


def test_file(name, segments, times, rule_files):
    oks, errs = counters(segments)
    series = 'http_requests_total{namespace="jobs", job="jobs-api", status="%s"}'
    return {
        "rule_files": rule_files,
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": name,
                "interval": "1m",
                "input_series": [
                    {"series": series % "200", "values": " ".join(map(str, oks))},
                    {"series": series % "500", "values": " ".join(map(str, errs))},
                ],
                "alert_rule_test": [{"eval_time": f"{t}m", "alertname": ALERT, "exp_alerts": []} for t in times],
            }
        ],
    }


def minutes(duration):
    """A Prometheus duration as promtool prints it (6h15m, 45m, 1d) in minutes."""
    units = {"d": 1440, "h": 60, "m": 1, "s": 1 / 60}
    return round(sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhms])", duration)))


def fired(output):
    """promtool's failures: [(eval minute, {label: value})] of the alerts that fired."""
    found = []
    for block in re.split(r"\n\s*alertname: ", output)[1:]:
        m = re.match(r"(\S+), time: (\S+?),", block)
        if not m:
            continue
        for labels in re.findall(r"Labels:\{(.*?)\}", block):
            found.append((minutes(m.group(2)), dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))))
    return found


def routes_to_pager(amtool, config, labels):
    args = [amtool, "config", "routes", "test", f"--config.file={config}", f"--verify.receivers={PAGER}"]
    args += [f"{k}={v}" for k, v in sorted(labels.items())]
    return subprocess.run(args, capture_output=True, text=True).returncode == 0


RECORDING_HEADER = """\
# The jobs API availability SLO's error ratios, as recorded in the repository
# (observability/prometheus/rules/jobs-api-slo.yml): the share of requests that answered 5xx over
# each window, slo:error_ratio:rate<window>{slo="jobs-api-availability"}. Do not edit: the check
# runs your alert against the repository's copy.
"""


class _Literal(yaml.SafeDumper):
    """Dumps multi-line strings (PromQL) as literal blocks, readable as in the repository."""


_Literal.add_representer(
    str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)
)


def recording(src, out):
    with open(src) as f:
        groups = yaml.safe_load(f)["groups"]
    rules = [
        r
        for g in groups
        for r in g["rules"]
        if "record" in r and r.get("labels", {}).get("slo") == "jobs-api-availability"
    ]
    if not rules:
        sys.exit(f"{src}: no recording rules of the jobs-api-availability SLO")
    with open(out, "w") as f:
        f.write(RECORDING_HEADER)
        yaml.dump(
            {"groups": [{"name": "jobs-api-slo.rules", "rules": rules}]}, f, Dumper=_Literal, sort_keys=False, width=120
        )


def main():
    if sys.argv[1] == "recording":
        recording(*sys.argv[2:4])
        return
    promtool, amtool, am_config, recording_rules, alerts, outdir = sys.argv[2:8]
    problems = []
    for name, describe, segments, times, must_page in SCENARIOS:
        path = os.path.join(outdir, f"{name}.test.yml")
        with open(path, "w") as f:
            yaml.safe_dump(test_file(name, segments, times, [recording_rules, alerts]), f, width=1 << 20)
        run = subprocess.run([promtool, "test", "rules", path], capture_output=True, text=True)
        out = run.stdout + run.stderr
        hits = fired(out)
        if run.returncode != 0 and not hits:
            problems.append(
                f"promtool could not run the check's scenario '{describe}' on your rules: "
                + " ".join(out.split())[-300:]
            )
            continue
        if must_page:
            after = times[0] - H
            if not hits:
                problems.append(
                    f"{ALERT} did not page within {after} minutes of {describe}: the budget "
                    "is gone in 7 hours at that rate (is `for:` too long, or the windows too long?)"
                )
                continue
            labels = hits[0][1]
            if labels.get("severity") != "critical":
                problems.append(
                    f"{ALERT} fired on {describe} with severity={labels.get('severity', '(none)')}: "
                    "a page needs severity: critical"
                )
            elif not routes_to_pager(amtool, am_config, labels):
                shown = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                problems.append(
                    f"{ALERT} fired with labels {{{shown}}}, "
                    "which observability/alertmanager/"
                    f"alertmanager.yml does not route to {PAGER} (it needs team: workloads)"
                )
        else:
            minutes = sorted({t for t, _ in hits})
            if minutes:
                problems.append(
                    f"{ALERT} paged on {describe} (firing at eval_time "
                    f"{', '.join(f'{m}m' for m in minutes)}): it must stay quiet there"
                )
    for p in problems:
        print(p)


if __name__ == "__main__":
    main()
