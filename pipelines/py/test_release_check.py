"""release_check accepts a well-formed CLI release and refuses each way one can be wrong.

The fixtures are small release folders made here: a shell script stands in for the binary (it
prints what `portcullis version --json` prints), so these tests run in a second; `make test`
also checks a release made by pipelines/package.sh from the real binary (package.sh --test).
"""

import contextlib
import gzip
import hashlib
import io
import json
import tarfile
import tempfile
import unittest
from pathlib import Path

import release_check as rc

VERSION = "1.2.3"
HOST = rc.host_triple()
EPOCH = 1_700_000_000


def fake_binary(version: str = VERSION, target: str = HOST) -> bytes:
    info = json.dumps({"name": "portcullis", "version": version, "commit": "abc", "buildDate": "unknown",
                       "target": target})
    return f"#!/bin/sh\n[ \"$1 $2\" = 'version --json' ] || exit 2\ncat <<'EOF'\n{info}\nEOF\n".encode()


def archive_bytes(entries: list[tuple[str, bytes | None, int]], *, uid: int = 0, mtimes: list[int] | None = None,
                  gzip_name: str = "", gzip_mtime: int = 0) -> bytes:
    """A tar.gz of (name, content or None for a folder, mode) entries."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for i, (name, content, mode) in enumerate(entries):
            info = tarfile.TarInfo(name)
            info.uid = info.gid = uid
            info.mtime = mtimes[i] if mtimes else EPOCH
            info.mode = mode
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    out = io.BytesIO()
    with gzip.GzipFile(filename=gzip_name, mode="wb", fileobj=out, mtime=gzip_mtime) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def good_entries(target: str = HOST, binary: bytes | None = None) -> list[tuple[str, bytes | None, int]]:
    top = f"portcullis-{VERSION}-{target}"
    return [
        (top, None, 0o755),
        (f"{top}/LICENSE", b"Apache License\n", 0o644),
        (f"{top}/README.md", b"# Portcullis\n", 0o644),
        (f"{top}/portcullis", binary if binary is not None else fake_binary(target=target), 0o755),
    ]


def sbom(version: str = VERSION, components: list | None = None) -> dict:
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "metadata": {"component": {"name": "portcullis", "version": version,
                                   "purl": f"pkg:cargo/portcullis-webhook@{version}?download_url=file://.#src/main.rs"}},
        "components": components if components is not None else [
            {"name": "portcullis-verifier", "version": version}, {"name": "serde", "version": "1.0.228"}],
    }


class ReleaseFolder(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dist = Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name: str, data: bytes) -> None:
        (self.dist / name).write_bytes(data)

    def make(self, target: str = HOST, archive: bytes | None = None, bom: dict | None = None) -> str:
        name = f"portcullis-{VERSION}-{target}.tar.gz"
        self.write(name, archive if archive is not None else archive_bytes(good_entries(target)))
        self.write(f"portcullis-{VERSION}.cdx.json", json.dumps(bom or sbom()).encode())
        self.sums()
        return name

    def sums(self) -> None:
        lines = [f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}\n" for f in sorted(self.dist.iterdir())
                 if f.name != rc.SUMS and not f.name.endswith(rc.SIGNATURE_SUFFIX)]
        self.write(rc.SUMS, "".join(lines).encode())

    def run_check(self, host: str = HOST) -> rc.Report:
        return rc.check(self.dist, VERSION, host)

    def failures(self, report: rc.Report) -> str:
        return "\n".join(line for line in report.lines if line.startswith("FAIL"))


class GoodRelease(ReleaseFolder):
    def test_a_well_formed_release_passes_every_check_and_runs_the_binary(self):
        self.make()
        self.write(f"portcullis-{VERSION}-{HOST}.tar.gz.sigstore.json", b"{}")
        self.write(f"{rc.SUMS}.sigstore.json", b"{}")
        report = self.run_check()
        self.assertEqual(report.failed, 0, report.lines)
        self.assertEqual(report.lines, [
            "PASS package/sha256sums", "PASS package/files", f"PASS package/archive/{HOST}",
            f"PASS package/binary/{HOST}", "PASS package/sbom"])

    def test_the_binary_of_a_target_this_host_cannot_run_is_skipped_and_said_so(self):
        self.make(target="riscv64gc-unknown-linux-gnu")
        report = self.run_check()
        self.assertEqual(report.failed, 0, report.lines)
        self.assertIn("SKIP package/binary/riscv64gc-unknown-linux-gnu: a riscv64gc-unknown-linux-gnu binary does "
                      f"not run on this {HOST} host", report.lines)

    def test_main_exits_0_on_a_good_release_and_1_on_a_bad_one(self):
        self.make()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(rc.main([str(self.dist), "--version", VERSION]), 0)
            self.assertEqual(rc.main([str(self.dist), "--version", "9.9.9"]), 1)
        self.assertIn("no archive portcullis-9.9.9-TARGET.tar.gz", out.getvalue())


class Tampering(ReleaseFolder):
    def test_a_tampered_archive_fails_its_sha256(self):
        name = self.make()
        data = bytearray((self.dist / name).read_bytes())
        data[len(data) // 2] ^= 0x01
        self.write(name, bytes(data))
        report = self.run_check()
        self.assertIn(f"FAIL package/sha256sums: {name}: sha256 ", self.failures(report))

    def test_a_file_not_in_the_sums_is_refused(self):
        self.make()
        self.write("notes.txt", b"x")
        failures = self.failures(self.run_check())
        self.assertIn("notes.txt is not listed in SHA256SUMS", failures)
        self.assertIn("unexpected file notes.txt", failures)

    def test_a_listed_file_that_is_gone_or_a_path_outside_the_folder_is_refused(self):
        self.make()
        with (self.dist / rc.SUMS).open("a") as f:
            f.write(f"{'0' * 64}  gone.tar.gz\n{'0' * 64}  ../etc/passwd\nnot a sum line\n")
        failures = self.failures(self.run_check())
        self.assertIn("gone.tar.gz is listed but missing", failures)
        self.assertIn("names '../etc/passwd', not a file of this folder", failures)
        self.assertIn("line 5 is not '<sha256>  <file>'", failures)


class ArchiveLayout(ReleaseFolder):
    def test_a_second_top_folder_is_refused_even_with_matching_sums(self):
        entries = good_entries() + [("other/evil", b"x", 0o755)]
        self.make(archive=archive_bytes(entries))
        self.assertIn("'other/evil' is outside the one folder", self.failures(self.run_check()))

    def test_missing_license_and_extra_files_are_refused(self):
        top = f"portcullis-{VERSION}-{HOST}"
        entries = [e for e in good_entries() if not e[0].endswith("LICENSE")] + [(f"{top}/install.sh", b"x", 0o755)]
        self.make(archive=archive_bytes(entries))
        failures = self.failures(self.run_check())
        self.assertIn("no LICENSE* file", failures)
        self.assertIn("unexpected install.sh", failures)

    def test_a_binary_that_is_not_executable_is_refused(self):
        entries = [(n, c, 0o644 if n.endswith("/portcullis") else m) for n, c, m in good_entries()]
        self.make(archive=archive_bytes(entries))
        self.assertIn("portcullis is not executable (mode 644)", self.failures(self.run_check()))

    def test_owners_times_and_gzip_headers_must_be_deterministic(self):
        archive = archive_bytes(good_entries(), uid=1000, mtimes=[EPOCH, EPOCH, EPOCH + 5, EPOCH],
                                gzip_name="x.tar", gzip_mtime=EPOCH)
        self.make(archive=archive)
        failures = self.failures(self.run_check())
        self.assertIn("owned by 1000:1000, not 0:0", failures)
        self.assertIn("entries have 2 different mtimes", failures)
        self.assertIn("the gzip header holds a file name", failures)
        self.assertIn("the gzip header holds a time", failures)

    def test_a_file_that_is_not_gzip_is_refused(self):
        self.make(archive=b"PK\x03\x04 not a tarball")
        self.assertIn("is not gzip", self.failures(self.run_check()))


class Binary(ReleaseFolder):
    def test_a_binary_reporting_another_version_or_target_is_refused(self):
        wrong = fake_binary(version="1.2.2", target="aarch64-unknown-linux-gnu")
        self.make(archive=archive_bytes(good_entries(binary=wrong)))
        failures = self.failures(self.run_check())
        self.assertIn("reports version '1.2.2', the release is 1.2.3", failures)
        self.assertIn("reports target 'aarch64-unknown-linux-gnu', the archive says", failures)

    def test_a_binary_that_fails_is_refused(self):
        self.make(archive=archive_bytes(good_entries(binary=b"#!/bin/sh\necho broken >&2\nexit 3\n")))
        self.assertIn("portcullis version --json exited 3: broken", self.failures(self.run_check()))


class Sbom(ReleaseFolder):
    def test_an_sbom_of_another_package_or_version_is_refused(self):
        bom = sbom()
        bom["metadata"]["component"] = {"name": "jobs-api", "version": "0.9.0", "purl": "pkg:cargo/jobs-api@0.9.0"}
        self.make(bom=bom)
        failures = self.failures(self.run_check())
        self.assertIn("does not name pkg:cargo/portcullis-webhook@1.2.3", failures)
        self.assertIn("metadata.component.version '0.9.0'", failures)

    def test_an_sbom_without_components_or_not_cyclonedx_is_refused(self):
        bom = sbom(components=[])
        bom["bomFormat"] = "SPDX"
        self.make(bom=bom)
        failures = self.failures(self.run_check())
        self.assertIn("bomFormat 'SPDX', not CycloneDX", failures)
        self.assertIn("no components", failures)

    def test_an_sbom_that_misses_the_verifier_is_refused(self):
        self.make(bom=sbom(components=[{"name": "serde", "version": "1.0.228"}, {"name": "nameless"}]))
        failures = self.failures(self.run_check())
        self.assertIn("portcullis-verifier, which the CLI links, is not among the components", failures)
        self.assertIn("1 component(s) without name or version", failures)

    def test_a_missing_sbom_is_refused(self):
        self.make()
        (self.dist / f"portcullis-{VERSION}.cdx.json").unlink()
        self.sums()
        failures = self.failures(self.run_check())
        self.assertIn("no SBOM portcullis-1.2.3.cdx.json", failures)
        self.assertIn("FAIL package/sbom: no portcullis-1.2.3.cdx.json", failures)


class Host(unittest.TestCase):
    def test_only_linux_binaries_of_the_hosts_architecture_run_here(self):
        self.assertTrue(rc.runs_here("x86_64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"))
        self.assertTrue(rc.runs_here("x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"))
        self.assertFalse(rc.runs_here("aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"))
        self.assertFalse(rc.runs_here("x86_64-apple-darwin", "x86_64-unknown-linux-gnu"))


if __name__ == "__main__":
    unittest.main()
