"""Per-crate line coverage from cargo-tarpaulin's JSON report, and a badge for the total.

    python3 pipelines/py/coverage_report.py REPORT.json WORKSPACE_ROOT [--only CRATE ...] [--badge OUT.svg]

Prints one row per workspace crate that has coverable lines (covered, lines, %) and a total.
Files are attributed to the crate whose manifest folder is the longest prefix of their path.
--only keeps the named crates: a run of some crates' tests also reports the workspace crates
they link, whose figures would only say that other crates' tests did not run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def workspace_crates(root: str) -> list[tuple[str, str]]:
    """(crate folder, crate name) for every workspace member, deepest folder first."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    crates = [(os.path.dirname(p["manifest_path"]), p["name"]) for p in json.loads(out)["packages"]]
    return sorted(crates, key=lambda c: -len(c[0]))


def file_path(entry: dict) -> str:
    path = entry["path"]
    if isinstance(path, list):
        path = os.path.join(*path)
    return "/" + path.lstrip("/")


def per_crate(report: dict, crates: list[tuple[str, str]], only: set[str] | None = None) -> dict[str, list[int]]:
    """{crate: [covered, coverable]} for the crates (of `only`, when given) with a coverable line."""
    rows: dict[str, list[int]] = {}
    for entry in report["files"]:
        path = file_path(entry)
        owner = next((name for folder, name in crates if path.startswith(folder + os.sep)), None)
        if owner is None or (only is not None and owner not in only):
            continue
        row = rows.setdefault(owner, [0, 0])
        row[0] += entry["covered"]
        row[1] += entry["coverable"]
    return {name: row for name, row in rows.items() if row[1] > 0}


def percent(covered: int, lines: int) -> float:
    return 100.0 * covered / lines if lines else 0.0


def table(rows: dict[str, list[int]]) -> str:
    lines = [f"{'crate':<28} {'covered':>8} {'lines':>8} {'%':>7}"]
    total = [0, 0]
    for name in sorted(rows):
        covered, coverable = rows[name]
        total[0] += covered
        total[1] += coverable
        lines.append(f"{name:<28} {covered:>8} {coverable:>8} {percent(covered, coverable):>6.1f}%")
    lines.append(f"{'total':<28} {total[0]:>8} {total[1]:>8} {percent(*total):>6.1f}%")
    return "\n".join(lines)


def badge_colour(value: float) -> str:
    for floor, colour in ((90, "#4c1"), (75, "#97ca00"), (60, "#dfb317"), (40, "#fe7d37")):
        if value >= floor:
            return colour
    return "#e05d44"


def badge(value: float) -> str:
    """A flat two-part SVG badge, "coverage | NN.N%", in the usual shields layout."""
    label, text = "coverage", f"{value:.1f}%"
    left, right = 61, 8 + 7 * len(text)
    width = left + right
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{label}: {text}"><title>{label}: {text}</title>'
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{badge_colour(value)}"/>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="14">{label}</text>'
        f'<text x="{left + right / 2}" y="14">{text}</text></g></svg>\n'
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("root")
    parser.add_argument("--only", nargs="+", metavar="CRATE", help="report these crates only")
    parser.add_argument("--badge", help="write an SVG badge of the total here")
    args = parser.parse_args(argv)
    with open(args.report, encoding="utf-8") as f:
        rows = per_crate(json.load(f), workspace_crates(args.root), set(args.only) if args.only else None)
    if not rows:
        print(f"coverage: no coverable line of a workspace crate in {args.report}", file=sys.stderr)
        return 1
    print(table(rows))
    if args.badge:
        covered = sum(r[0] for r in rows.values())
        coverable = sum(r[1] for r in rows.values())
        Path(args.badge).write_text(badge(percent(covered, coverable)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
