"""The signing action (.github/actions/sign) and reusable workflow (.github/workflows/sign.yml), read
for the checks in test_sign_action.py: what each declares, what sign.sh passes to portcullis, and
what a portcullis binary's --help offers.

Every check returns a list of problems (strings naming the input, output or flag and what is
wrong), empty when all is well, so a test can show them all at once.
"""

import os
import re
import subprocess

import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../.."))
ACTION_DIR = os.path.join(REPO, ".github/actions/sign")
ACTION = os.path.join(ACTION_DIR, "action.yml")
WORKFLOW = os.path.join(REPO, ".github/workflows/sign.yml")
# How the reusable workflow names the action: this repository at the workflow's own commit.
SELF_ACTION = "$/.github/actions/sign"

# Action inputs that the reusable workflow takes as secrets (same names), not as inputs.
SECRET_INPUTS = {"key", "key-password"}
# Inputs and secrets only the reusable workflow has, and why.
WORKFLOW_ONLY_INPUTS = {
    "artifact": "a called workflow runs on a fresh runner: the caller's files come as an artifact",
    "registry": "the action uses the caller's docker login; the workflow has to log in itself",
    "registry-username": "as registry",
}
WORKFLOW_ONLY_SECRETS = {"registry-password": "as registry"}

# `portcullis SUBCOMMAND --flag` in an input's description: the flags that input becomes.
DOCUMENTED_FLAG = re.compile(r"`portcullis ([a-z][a-z-]*)((?: --[a-z0-9][a-z0-9-]*)+)`")
# A long flag in a line of shell.
LONG_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
# A flag as clap's --help lists it: "  -o, --output <FILE>" or "      --key <FILE>".
HELP_FLAG = re.compile(r"(?m)^\s+(?:-[A-Za-z0-9], )?(--[a-z0-9][a-z0-9-]*)")


def read(path):
    with open(path) as fh:
        return fh.read()


def load_yaml(path):
    return yaml.safe_load(read(path))


def workflow_call(workflow):
    """The `on.workflow_call` mapping (PyYAML reads the key `on` as True)."""
    on = workflow.get("on", workflow.get(True))
    return on["workflow_call"]


def logical_lines(script):
    """The lines of a shell script with backslash continuations joined."""
    return script.replace("\\\n", " ").splitlines()


def script_flags(script):
    """{subcommand: {flag, ...}} that a script passes to portcullis. A call is written
    `"$PORTCULLIS_BIN" SUBCOMMAND --flag …` on one logical line (what follows `|| die` is a message,
    not flags); flags gathered in an array go into one named SUBCOMMAND_flags."""
    found = {}
    for line in logical_lines(script):
        code = line.split("|| die", 1)[0]
        if code.lstrip().startswith("#"):
            continue
        for m in re.finditer(r'"\$PORTCULLIS_BIN" ([a-z][a-z-]*)', code):
            rest = code[m.end() :]
            nxt = rest.find('"$PORTCULLIS_BIN"')
            found.setdefault(m.group(1), set()).update(LONG_FLAG.findall(rest if nxt < 0 else rest[:nxt]))
        for m in re.finditer(r"\b([a-z]+)_flags\+?=\(([^)]*)\)", code):
            found.setdefault(m.group(1), set()).update(LONG_FLAG.findall(m.group(2)))
    return found


def documented_flags(action):
    """{input: [(subcommand, flag), ...]} from the inputs' descriptions."""
    out = {}
    for name, spec in action["inputs"].items():
        for m in DOCUMENTED_FLAG.finditer(" ".join(spec.get("description", "").split())):
            for flag in m.group(2).split():
                out.setdefault(name, []).append((m.group(1), flag))
    return out


def help_flags(binary, subcommand):
    """The flags `BINARY SUBCOMMAND --help` lists, or raises RuntimeError saying why there are none."""
    try:
        r = subprocess.run([binary, subcommand, "--help"], capture_output=True, text=True, timeout=60)
    except OSError as e:
        raise RuntimeError(f"cannot run {binary}: {e}") from e
    if r.returncode != 0:
        first = (r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}").splitlines()[0]
        raise RuntimeError(f"`portcullis {subcommand} --help` failed: {first}")
    return set(HELP_FLAG.findall(r.stdout))


def flag_problems(action, scripts, helps):
    """Problems with the flags the action's inputs become and the flags its scripts pass.

    scripts: {file name: text}; helps(subcommand) -> set of flags, or raises RuntimeError."""
    problems = []
    cache = {}

    def offered(sub):
        if sub not in cache:
            try:
                cache[sub] = helps(sub)
            except RuntimeError as e:
                cache[sub] = e
        return cache[sub]

    passed = {}
    for text in scripts.values():
        for sub, flags in script_flags(text).items():
            passed.setdefault(sub, set()).update(flags)
    for name, pairs in sorted(documented_flags(action).items()):
        for sub, flag in pairs:
            have = offered(sub)
            if isinstance(have, RuntimeError):
                problems.append(f"input {name} becomes `portcullis {sub} {flag}`, but {have}")
            elif flag not in have:
                problems.append(
                    f"input {name} becomes `portcullis {sub} {flag}`, which `portcullis {sub} --help` does not list"
                )
            if flag not in passed.get(sub, set()):
                problems.append(f"input {name}: its description names `portcullis {sub} {flag}`; no script passes it")
    for sub, flags in sorted(passed.items()):
        have = offered(sub)
        if isinstance(have, RuntimeError):
            problems.append(f"the scripts call `portcullis {sub}`, but {have}")
            continue
        for flag in sorted(flags - have):
            problems.append(f"the scripts pass `portcullis {sub} {flag}`, which its --help does not list")
    return problems


def expression(value):
    """`${{ X }}` -> X (stripped), else None."""
    m = re.fullmatch(r"\$\{\{\s*(.*?)\s*\}\}", str(value).strip())
    return m.group(1) if m else None


def sign_step(workflow):
    """(job name, job, the step that uses the action) of the reusable workflow."""
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            if step.get("uses") == SELF_ACTION:
                return job_name, job, step
    raise AssertionError(f"{WORKFLOW}: no step uses {SELF_ACTION}")


def agreement_problems(action, workflow):
    """Problems between the action's inputs and the reusable workflow's inputs and secrets."""
    problems = []
    call = workflow_call(workflow)
    w_inputs = call.get("inputs", {})
    w_secrets = call.get("secrets", {})
    _, _, step = sign_step(workflow)
    passed = step.get("with", {})
    for name, spec in action["inputs"].items():
        a_default = str(spec.get("default", ""))
        a_required = bool(spec.get("required", False))
        if name in SECRET_INPUTS:
            if name not in w_secrets:
                problems.append(f"input {name}: the workflow has no secret {name}")
            want = f"secrets.{name}"
        else:
            if name not in w_inputs:
                problems.append(f"input {name}: the workflow has no input {name}")
                continue
            w = w_inputs[name]
            if str(w.get("default", "")) != a_default:
                problems.append(
                    f"input {name}: default {w.get('default', '')!r} in the workflow, {a_default!r} in the action"
                )
            if bool(w.get("required", False)) != a_required:
                problems.append(
                    f"input {name}: required {w.get('required', False)} in the workflow, {a_required} in the action"
                )
            want = f"inputs.{name}"
        if name not in passed:
            problems.append(f"input {name}: the workflow does not pass it to the action")
        elif expression(passed[name]) != want:
            problems.append(f"input {name}: the workflow passes {passed[name]!r}, not ${{{{ {want} }}}}")
    for name in passed:
        if name not in action["inputs"]:
            problems.append(f"the workflow passes {name}, which the action does not declare")
    text = read(WORKFLOW)
    for name in w_inputs:
        if name not in action["inputs"] and name not in WORKFLOW_ONLY_INPUTS:
            problems.append(f"workflow input {name}: not an action input nor a known workflow-only input")
        if not re.search(rf"inputs\.{re.escape(name)}(?![\w-])", text.split("\njobs:", 1)[1]):
            problems.append(f"workflow input {name}: declared but never used")
    for name in w_secrets:
        if name not in SECRET_INPUTS and name not in WORKFLOW_ONLY_SECRETS:
            problems.append(f"workflow secret {name}: not an action input nor a known workflow-only secret")
    return problems


def action_output_problems(action, scripts):
    """Problems with the action's outputs: each must come from a step that exists and whose script
    writes it (`output NAME …`)."""
    problems = []
    steps = {s.get("id"): s for s in action["runs"]["steps"] if s.get("id")}
    for name, spec in action.get("outputs", {}).items():
        m = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression(spec.get("value", "")) or "")
        if not m:
            problems.append(f"output {name}: its value is not ${{{{ steps.ID.outputs.NAME }}}}")
            continue
        step = steps.get(m.group(1))
        if step is None:
            problems.append(f"output {name}: no step with id {m.group(1)}")
            continue
        script = re.search(r"\$GITHUB_ACTION_PATH/([\w.-]+\.sh)", step.get("run", ""))
        if not script or script.group(1) not in scripts:
            problems.append(f"output {name}: step {m.group(1)} runs no script of the action")
            continue
        if not re.search(rf"(?m)^\s*output {re.escape(m.group(2))}\s", scripts[script.group(1)]):
            problems.append(f"output {name}: {script.group(1)} never writes {m.group(2)} (`output {m.group(2)} …`)")
    return problems


def workflow_output_problems(action, workflow):
    """Problems with the reusable workflow's outputs: each must lead, through a job output, to an
    output of the action step."""
    problems = []
    jobs = workflow["jobs"]
    job_name, job, step = sign_step(workflow)
    for name, spec in workflow_call(workflow).get("outputs", {}).items():
        m = re.fullmatch(r"jobs\.([\w-]+)\.outputs\.([\w-]+)", expression(spec.get("value", "")) or "")
        if not m or m.group(1) not in jobs:
            problems.append(f"workflow output {name}: its value names no job output")
            continue
        value = jobs[m.group(1)].get("outputs", {}).get(m.group(2))
        if value is None:
            problems.append(f"workflow output {name}: job {m.group(1)} has no output {m.group(2)}")
            continue
        s = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression(value) or "")
        if not s or m.group(1) != job_name or s.group(1) != step.get("id"):
            problems.append(f"workflow output {name}: {value!r} is not an output of the action step")
        elif s.group(2) not in action.get("outputs", {}):
            problems.append(f"workflow output {name}: the action has no output {s.group(2)}")
    for used in re.findall(rf"steps\.{re.escape(step.get('id', ''))}\.outputs\.([\w-]+)", read(WORKFLOW)):
        if used not in action.get("outputs", {}):
            problems.append(f"the workflow reads steps.{step.get('id')}.outputs.{used}, which the action does not set")
    return problems
