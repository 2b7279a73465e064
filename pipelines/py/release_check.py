"""Check a CLI release folder, as `make package` writes it and the release workflow uploads it.

    python3 pipelines/py/release_check.py DIST --version VERSION [--host TRIPLE]

(`pipelines/package.sh --verify DIST` calls it with the workspace's version.) The folder holds:

    portcullis-VERSION-TARGET.tar.gz   one per target: one folder portcullis-VERSION-TARGET/ with
                                       portcullis, LICENSE*, README.md; deterministic (owner 0,
                                       one mtime, gzip without name or time)
    portcullis-VERSION.cdx.json        CycloneDX SBOM of the CLI (portcullis-webhook VERSION)
    SHA256SUMS                         sha256sum lines over every other file
    FILE.sigstore.json                 optional (the release workflow's keyless signatures; checked
                                       with cosign verify-blob, not here)

Prints one line per check: "PASS package/NAME", "FAIL package/NAME: why", or "SKIP package/NAME:
why" (the binary of a target this host cannot run); exits 1 when any check failed. Standard
library only, so a bare runner's python3 runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SUMS = "SHA256SUMS"
SIGNATURE_SUFFIX = ".sigstore.json"
SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")
EXEC_BITS = 0o111


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    failed: int = 0

    def check(self, name: str, problems: list[str]) -> bool:
        if problems:
            self.failed += 1
            self.lines.append(f"FAIL package/{name}: " + "; ".join(problems))
            return False
        self.lines.append(f"PASS package/{name}")
        return True

    def skip(self, name: str, why: str) -> None:
        self.lines.append(f"SKIP package/{name}: {why}")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_sums(path: Path) -> tuple[dict[str, str], list[str]]:
    """SHA256SUMS as {file name: hex}, and what is wrong with its lines."""
    sums: dict[str, str] = {}
    problems = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = SUM_LINE.match(line)
        if not m:
            problems.append(f"{SUMS} line {n} is not '<sha256>  <file>': {line[:80]!r}")
            continue
        digest, name = m.groups()
        if "/" in name or name in (".", ".."):
            problems.append(f"{SUMS} line {n} names {name!r}, not a file of this folder")
        elif name in sums:
            problems.append(f"{SUMS} lists {name} twice")
        else:
            sums[name] = digest
    return sums, problems


def check_sums(dist: Path, report: Report) -> None:
    """Every listed file matches its sha256; every file but signatures is listed."""
    path = dist / SUMS
    if not path.is_file():
        report.check("sha256sums", [f"no {SUMS} in {dist}"])
        return
    sums, problems = read_sums(path)
    for name, want in sorted(sums.items()):
        f = dist / name
        if not f.is_file():
            problems.append(f"{name} is listed but missing")
        elif (got := sha256_of(f)) != want:
            problems.append(f"{name}: sha256 {got}, {SUMS} says {want}")
    for f in sorted(dist.iterdir()):
        if f.name != SUMS and not f.name.endswith(SIGNATURE_SUFFIX) and f.name not in sums:
            problems.append(f"{f.name} is not listed in {SUMS}")
    if not sums and not problems:
        problems.append(f"{SUMS} lists no file")
    report.check("sha256sums", problems)


def expected_files(dist: Path, version: str, report: Report) -> list[tuple[Path, str]]:
    """The archives as (path, target); fails on a missing SBOM, no archive or a stray file."""
    triple = r"[a-z0-9_]+-[a-z0-9_]+-[a-z0-9_]+(?:-[a-z0-9_]+)?"
    archive = re.compile(rf"^portcullis-{re.escape(version)}-({triple})\.tar\.gz$")
    sbom = f"portcullis-{version}.cdx.json"
    archives, problems = [], []
    for f in sorted(dist.iterdir()):
        if f.name in (SUMS, sbom) or f.name.endswith(SIGNATURE_SUFFIX):
            continue
        if m := archive.match(f.name):
            archives.append((f, m.group(1)))
        else:
            problems.append(f"unexpected file {f.name} (expected portcullis-{version}-TARGET.tar.gz, {sbom}, {SUMS})")
    if not (dist / sbom).is_file():
        problems.append(f"no SBOM {sbom}")
    if not archives:
        problems.append(f"no archive portcullis-{version}-TARGET.tar.gz")
    report.check("files", problems)
    return archives


def gzip_header_problems(path: Path) -> list[str]:
    """gzip -n: no file name and a zero time in the header, so equal input gives equal bytes."""
    head = path.read_bytes()[:10]
    if len(head) < 10 or head[:2] != b"\x1f\x8b":
        return [f"{path.name} is not gzip"]
    problems = []
    if head[3] & 0x08:
        problems.append(f"{path.name}: the gzip header holds a file name (use gzip -n)")
    if int.from_bytes(head[4:8], "little") != 0:
        problems.append(f"{path.name}: the gzip header holds a time (use gzip -n)")
    return problems


def check_archive(path: Path, version: str, target: str, report: Report) -> Path | None:
    """One top folder portcullis-VERSION-TARGET/ with exactly the expected files; returns the
    extracted binary (in a temporary folder the caller removes) when the layout is right."""
    top = f"portcullis-{version}-{target}"
    name = f"archive/{target}"
    problems = gzip_header_problems(path)
    if any("not gzip" in p for p in problems):
        report.check(name, problems)
        return None
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = tar.getmembers()
            files = {}
            for m in members:
                parts = m.name.rstrip("/").split("/")
                if m.name.startswith("/") or ".." in parts:
                    problems.append(f"unsafe path {m.name!r}")
                    continue
                if parts[0] != top:
                    problems.append(f"{m.name!r} is outside the one folder {top}/")
                    continue
                if not (m.isfile() or m.isdir()):
                    problems.append(f"{m.name!r} is neither a file nor a folder")
                if m.uid != 0 or m.gid != 0:
                    problems.append(f"{m.name!r} is owned by {m.uid}:{m.gid}, not 0:0")
                if m.isfile():
                    if len(parts) != 2:
                        problems.append(f"{m.name!r} is in a subfolder")
                    files[parts[1]] = m
            mtimes = {m.mtime for m in members}
            if len(mtimes) > 1:
                problems.append(f"entries have {len(mtimes)} different mtimes (SOURCE_DATE_EPOCH gives them one)")
            expected = {"portcullis", "README.md"}
            licenses = {f for f in files if f.startswith("LICENSE")}
            if not licenses:
                problems.append("no LICENSE* file")
            if missing := expected - files.keys():
                problems.append(f"missing {', '.join(sorted(missing))}")
            if extra := files.keys() - expected - licenses:
                problems.append(f"unexpected {', '.join(sorted(extra))}")
            binary = files.get("portcullis")
            if binary is not None and not binary.mode & EXEC_BITS:
                problems.append(f"portcullis is not executable (mode {binary.mode:o})")
            if problems or binary is None:
                report.check(name, problems)
                return None
            out = Path(tempfile.mkdtemp(prefix="release-check-"))
            src = tar.extractfile(binary)
            if src is None:
                report.check(name, ["cannot read portcullis from the archive"])
                return None
            exe = out / "portcullis"
            with exe.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            exe.chmod(0o755)
    except (tarfile.TarError, OSError, EOFError) as e:
        report.check(name, problems + [f"{path.name} does not unpack: {e}"])
        return None
    report.check(name, [])
    return exe


def host_triple() -> str:
    """The Rust target triple of this machine (enough to know which archives run here)."""
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
    return f"{machine}-unknown-linux-gnu" if sys.platform.startswith("linux") else f"{machine}-{sys.platform}"


def runs_here(target: str, host: str) -> bool:
    """A Linux binary of the host's architecture runs (glibc static or musl) on a Linux host."""
    arch, _, rest = target.partition("-")
    return arch == host.partition("-")[0] and "linux" in rest and "linux" in host


def check_binary(exe: Path, version: str, target: str, host: str, report: Report) -> None:
    name = f"binary/{target}"
    if not runs_here(target, host):
        report.skip(name, f"a {target} binary does not run on this {host} host")
        return
    try:
        run = subprocess.run([str(exe), "version", "--json"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        report.check(name, [f"portcullis version --json did not run: {e}"])
        return
    if run.returncode != 0:
        report.check(name, [f"portcullis version --json exited {run.returncode}: {run.stderr.strip()[:200]}"])
        return
    try:
        info = json.loads(run.stdout)
    except json.JSONDecodeError as e:
        report.check(name, [f"portcullis version --json printed no JSON ({e}): {run.stdout[:120]!r}"])
        return
    problems = []
    if info.get("version") != version:
        problems.append(f"reports version {info.get('version')!r}, the release is {version}")
    if info.get("target") != target:
        problems.append(f"reports target {info.get('target')!r}, the archive says {target}")
    for key in ("commit", "buildDate"):
        if not isinstance(info.get(key), str) or not info[key]:
            problems.append(f"reports no {key}")
    report.check(name, problems)


def check_sbom(path: Path, version: str, report: Report) -> None:
    """CycloneDX JSON describing portcullis-webhook VERSION, with its crates as components."""
    if not path.is_file():
        report.check("sbom", [f"no {path.name}"])
        return
    try:
        bom = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        report.check("sbom", [f"{path.name} is not JSON: {e}"])
        return
    problems = []
    if bom.get("bomFormat") != "CycloneDX":
        problems.append(f"bomFormat {bom.get('bomFormat')!r}, not CycloneDX")
    if not bom.get("specVersion"):
        problems.append("no specVersion")
    component = (bom.get("metadata") or {}).get("component") or {}
    purl = component.get("purl") or ""
    if not purl.startswith(f"pkg:cargo/portcullis-webhook@{version}"):
        problems.append(f"metadata.component.purl {purl!r} does not name pkg:cargo/portcullis-webhook@{version}")
    if component.get("version") != version:
        problems.append(f"metadata.component.version {component.get('version')!r}, the release is {version}")
    components = bom.get("components")
    if not isinstance(components, list) or not components:
        problems.append("no components")
    else:
        unnamed = [c for c in components if not (isinstance(c, dict) and c.get("name") and c.get("version"))]
        if unnamed:
            problems.append(f"{len(unnamed)} component(s) without name or version")
        if not any(isinstance(c, dict) and c.get("name") == "portcullis-verifier" for c in components):
            problems.append("portcullis-verifier, which the CLI links, is not among the components")
    report.check("sbom", problems)


def check(dist: Path, version: str, host: str) -> Report:
    report = Report()
    if not dist.is_dir():
        report.check("files", [f"{dist} is not a folder"])
        return report
    check_sums(dist, report)
    for path, target in expected_files(dist, version, report):
        exe = check_archive(path, version, target, report)
        if exe is not None:
            try:
                check_binary(exe, version, target, host, report)
            finally:
                exe.unlink(missing_ok=True)
                os.rmdir(exe.parent)
    check_sbom(dist / f"portcullis-{version}.cdx.json", version, report)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dist", type=Path)
    p.add_argument("--version", required=True, help="the release's version (the workspace's, without v)")
    p.add_argument("--host", default=host_triple(), help="this machine's target triple (which binaries can run)")
    args = p.parse_args(argv)
    report = check(args.dist, args.version, args.host)
    print("\n".join(report.lines))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
