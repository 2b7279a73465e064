"""Every repository path, make target and portcullis command the course pages name must exist.

    python course_docs.py ROOT PORTCULLIS_BIN    one line per problem, then "summary: ..."; exit 1 on any

Reads every *.md under ROOT/docs/course (the module pages, the lab READMEs and hints) and checks:
  - links: a relative link target ([text](path)) is an existing file or folder, resolved from the
    page's folder, and its #anchor, on a Markdown file, one of that file's headings; web links
    (scheme:…) and same-page anchors are not followed
  - paths: a word in inline code or in a fenced block that looks like a repository path (it has a
    slash, no placeholder such as <env> or glob, and starts with a top-level entry of ROOT such as
    deploy/, or ends in a file name with an extension) exists under ROOT or the page's folder;
    .work/ and target/ are the machine's state, not the repository's, and are not checked, nor,
    in a lab's folder, relative paths that do not start at the root (the student's workspace)
  - make: `make TARGET…` in code names targets that have a rule in ROOT/Makefile (a name only
    declared .PHONY is reported as such); VAR=value arguments and flags are skipped
  - portcullis: `portcullis SUB --flag…` (or any path ending in /portcullis) in code names a
    subcommand that `portcullis --help` lists, and flags that `portcullis SUB --help` lists

Used by pipelines/validate/course-docs.sh. A tree without docs/course, or with no page in it,
fails too: there would be nothing to check.
"""

import os
import re
import shlex
import subprocess
import sys

COURSE = "docs/course"
LABS = COURSE + "/labs"
# Local state of a checkout (git-ignored), named in the course but never committed.
NOT_IN_REPOSITORY = {".work", "target", ".git"}
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
FENCE = re.compile(r"^\s*(```|~~~)")
PATH_WORD = re.compile(r"^\.?[A-Za-z0-9_][A-Za-z0-9_.+-]*(/[A-Za-z0-9_.+-]+)*/?$")
MAKE_TARGET = re.compile(r"^[A-Za-z0-9_.-]+$")
RULE = re.compile(r"^([A-Za-z0-9_.%-]+(?:[ \t]+[A-Za-z0-9_.%-]+)*)[ \t]*::?(?!=)")
# Shell words that end one command and start another on the same line.
SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", "$("}


# --- reading the pages ------------------------------------------------------------------------


def pages(root):
    """Every *.md under ROOT/docs/course, sorted, as paths relative to ROOT."""
    found = []
    for folder, dirs, files in os.walk(os.path.join(root, COURSE)):
        dirs.sort()
        found += [os.path.relpath(os.path.join(folder, f), root) for f in sorted(files) if f.endswith(".md")]
    return found


def code_lines(text):
    """(line number, code) for every fenced-block line (continuations joined) and inline code span."""
    out, fenced, pending, start = [], False, "", 0
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced, pending = not fenced, ""
            continue
        if fenced:
            if not pending:
                start = n
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            out.append((start, pending + line))
            pending = ""
        else:
            out += [(n, m.group(2).strip()) for m in INLINE_CODE.finditer(line)]
    return out


def link_targets(text):
    """(line number, target) for every Markdown link or image outside fenced blocks."""
    out, fenced = [], False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            out += [(n, m.group(1)) for m in LINK.finditer(INLINE_CODE.sub("", line))]
    return out


def words(code):
    """The shell words of one line of code (a lenient split when the quotes do not balance)."""
    code = code.split(" #", 1)[0] if not code.startswith("#") else ""
    try:
        lexer = shlex.shlex(code, posix=True, punctuation_chars="|&;()")
        lexer.whitespace_split = True
        return list(lexer)
    except ValueError:
        return code.split()


def commands(code):
    """The line's commands, each a list of words (split at |, &&, ; …)."""
    out, current = [], []
    for w in words(code):
        if w in SEPARATORS:
            out.append(current)
            current = []
        else:
            current.append(w)
    return [c for c in out + [current] if c]


# --- the rules --------------------------------------------------------------------------------


def check_links(root, page, text):
    problems = []
    base = os.path.dirname(os.path.join(root, page))
    for n, target in link_targets(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        full = os.path.normpath(
            os.path.join(root, path.lstrip("/")) if path.startswith("/") else os.path.join(base, path)
        )
        if os.path.relpath(full, root).startswith(".."):
            problems.append(f"{page}:{n}: link to {target} leaves the repository")
        elif not os.path.exists(full):
            problems.append(f"{page}:{n}: link to {target}: {os.path.relpath(full, root)} does not exist")
        elif "#" in target and full.endswith(".md") and os.path.isfile(full):
            anchor = target.split("#", 1)[1]
            with open(full) as fh:
                if anchor not in anchors(fh.read()):
                    problems.append(
                        f"{page}:{n}: link to {target}: no heading #{anchor} in {os.path.relpath(full, root)}"
                    )
    return problems


def anchors(text):
    """The anchors GitHub gives the headings of a Markdown text (outside fenced blocks)."""
    out, fenced, counts = set(), False, {}
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
            n = counts.get(slug, 0)
            counts[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def repository_path(word, top_level, relative=True):
    """WORD as a repository path to check, or None when it does not look like one.

    A path has a slash and either starts with a top-level entry of the tree (deploy/…) or, when
    RELATIVE, ends in a file name with an extension (labs/05-…/README.md, relative to the page).
    Words whose first segment has a dot (registry.example/app, policy.portcullis.dev/v1alpha1)
    are names, not paths.
    """
    word = re.sub(r"(:\d+)+$", "", word.rstrip(".,;:)"))
    if word.startswith("./"):
        word = word[2:]
    if not PATH_WORD.match(word) or "/" not in word.rstrip("/"):
        return None
    first = word.split("/", 1)[0]
    if first in top_level:
        return word
    if relative and "." not in first and re.search(r"\.(md|ya?ml|sh|rs|toml|json|py|txt|alloy|mjs)$", word):
        return word
    return None


def top_level_entries(root):
    return {name for name in os.listdir(root) if name not in NOT_IN_REPOSITORY}


def check_paths(root, page, text, top_level):
    problems, seen = [], set()
    # In a lab's folder, a relative path in code is in the student's workspace (.work/labs/NN-…),
    # which start.sh makes: only paths from the repository root are checked there.
    relative = not page.startswith(LABS + "/")
    for n, code in code_lines(text):
        for w in words(code):
            for part in w.split("=")[-1:]:
                path = repository_path(part, top_level, relative)
                if path and (n, path) not in seen:
                    seen.add((n, path))
                    here = os.path.join(root, os.path.dirname(page), path)
                    if not os.path.exists(os.path.join(root, path)) and not os.path.exists(here):
                        problems.append(f"{page}:{n}: path {path} does not exist in the repository")
    return problems


def make_targets(makefile_text):
    """(rules, phony): target names with a rule, and names declared .PHONY."""
    rules, phony = set(), set()
    for line in makefile_text.splitlines():
        if line.startswith(".PHONY:"):
            phony |= set(line.split(":", 1)[1].split())
            continue
        m = RULE.match(line)
        if m and not line.startswith("\t"):
            rules |= {t for t in m.group(1).split() if not t.startswith(".")}
    return rules, phony


def check_make(page, text, rules, phony):
    problems = []
    for n, code in code_lines(text):
        for cmd in commands(code):
            if cmd[0] != "make":
                continue
            for w in cmd[1:]:
                if w.startswith("-") or "=" in w or not MAKE_TARGET.match(w):
                    continue
                if w in rules:
                    continue
                why = "declared .PHONY but has no rule" if w in phony else "is not a target of the Makefile"
                problems.append(f"{page}:{n}: make {w}: {why}")
    return problems


def parse_help(top_help):
    """Subcommand names from `portcullis --help` (the Commands: section)."""
    subs, inside = set(), False
    for line in top_help.splitlines():
        if line.strip() == "Commands:":
            inside = True
        elif inside and re.match(r"^\S", line):
            inside = False
        elif inside:
            m = re.match(r"^\s+([a-z][a-z0-9-]*)\b", line)
            if m and m.group(1) != "help":
                subs.add(m.group(1))
    return subs


def parse_flags(sub_help):
    return set(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", sub_help)) | {"--help"}


def check_portcullis(page, text, cli):
    """CLI: {"subcommands": set, "flags": {sub: set}}."""
    problems = []
    for n, code in code_lines(text):
        for cmd in commands(code):
            for i, w in enumerate(cmd):
                # An assignment (PORTCULLIS=target/debug/portcullis) or a variable is no invocation.
                if w.rsplit("/", 1)[-1] != "portcullis" or w.startswith("$") or "=" in w:
                    continue
                rest = cmd[i + 1 :]
                if not rest or rest[0].startswith("-"):
                    break
                sub = rest[0]
                if sub not in cli["subcommands"]:
                    known = ", ".join(sorted(cli["subcommands"]))
                    problems.append(f"{page}:{n}: portcullis {sub}: no such subcommand (portcullis --help: {known})")
                    break
                for flag in rest[1:]:
                    flag = flag.lstrip("[").split("=", 1)[0].rstrip("]")
                    if flag.startswith("--") and flag not in cli["flags"][sub]:
                        problems.append(f"{page}:{n}: portcullis {sub} {flag}: not a flag of `portcullis {sub} --help`")
                break
    return problems


# --- the CLI, from the binary -----------------------------------------------------------------


def cli_from_binary(binary):
    def run(*args):
        r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"{binary} {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
        return r.stdout

    subs = parse_help(run("--help"))
    if not subs:
        raise RuntimeError(f"{binary} --help lists no subcommands")
    return {"subcommands": subs, "flags": {s: parse_flags(run(s, "--help")) for s in subs}}


def check_tree(root, cli):
    """(problems, counts) for the course pages under ROOT."""
    found = pages(root)
    if not found:
        return [f"no Markdown pages under {COURSE}"], {"pages": 0}
    makefile = os.path.join(root, "Makefile")
    if not os.path.isfile(makefile):
        return ["no Makefile at the root of the tree"], {"pages": len(found)}
    with open(makefile) as fh:
        rules, phony = make_targets(fh.read())
    top = top_level_entries(root)
    problems = []
    for page in found:
        with open(os.path.join(root, page)) as fh:
            text = fh.read()
        problems += check_links(root, page, text)
        problems += check_paths(root, page, text, top)
        problems += check_make(page, text, rules, phony)
        problems += check_portcullis(page, text, cli)
    return problems, {"pages": len(found)}


def main(argv):
    if len(argv) != 3:
        print("usage: course_docs.py ROOT PORTCULLIS_BIN", file=sys.stderr)
        return 2
    root, binary = argv[1], argv[2]
    try:
        cli = cli_from_binary(binary)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"cannot read the CLI's help: {e}")
        print("summary: portcullis --help unreadable")
        return 1
    problems, counts = check_tree(root, cli)
    for p in problems:
        print(p)
    print(f"summary: {counts['pages']} course pages, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
