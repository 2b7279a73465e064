"""pipelines/student-check.sh on a made-up machine: stand-in tools on PATH, nothing else.

Every required prerequisite present gives exit 0 and one "ok" line each; taking one away gives
its MISSING line with the install command and exit 1; optional ones never fail the check.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
SCRIPT = os.path.join(REPO, "pipelines/student-check.sh")
# What the script itself runs: taken from this machine.
SYSTEM = ("bash", "sed", "head", "cut", "grep", "dirname", "basename", "timeout", "cat")
STANDINS = {
    "git": "echo 'git version 2.47.0'",
    "make": "echo 'GNU Make 4.3'",
    "cargo": "echo 'cargo 1.95.0 (f2d3ce0bd 2026-03-21)'",
    "rustc": "echo 'rustc 1.95.0 (59807616e 2026-04-14)'",
    "jq": "echo jq-1.6",
    "curl": "echo 'curl 7.88.1'",
    "openssl": "echo 'OpenSSL 3.0.19'",
    "docker-registry": "echo 'docker-registry 2.8.2'",
    "kubectl": "echo 'Client Version: v1.32.3'",
    "cosign": "echo 'GitVersion: v2.5.0'",
}


class StudentCheck(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.bin = os.path.join(tmp.name, "bin")
        self.pg = os.path.join(tmp.name, "pg")
        os.makedirs(self.bin)
        os.makedirs(self.pg)
        for name in SYSTEM:
            os.symlink(shutil.which(name), os.path.join(self.bin, name))
        # This interpreter itself (a pyenv shim on PATH would need pyenv's environment).
        os.symlink(os.path.realpath(sys.executable), os.path.join(self.bin, "python3"))
        for name, body in STANDINS.items():
            self.standin(self.bin, name, body)
        for name in ("postgres", "initdb"):
            self.standin(self.pg, name, "echo 'postgres (PostgreSQL) 15.18'")

    def standin(self, folder, name, body):
        path = os.path.join(folder, name)
        with open(path, "w") as fh:
            fh.write(f"#!/bin/sh\n{body}\n")
        os.chmod(path, 0o755)

    def run_check(self):
        env = {"PATH": self.bin, "PG_BINDIR": self.pg, "HOME": os.environ.get("HOME", "/")}
        return subprocess.run(["bash", SCRIPT], env=env, capture_output=True, text=True, timeout=60)

    def test_everything_required_present_passes_and_optional_ones_do_not_fail(self):
        r = self.run_check()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for name in ("git", "make", "rust", "jq", "curl", "openssl", "python3", "docker-registry", "kubectl"):
            self.assertRegex(r.stdout, rf"(?m)^ok +{name} ")
        self.assertRegex(r.stdout, r"(?m)^optional +container-engine .*kind-up.sh")
        self.assertIn("student-check: ready", r.stdout)

    def test_a_missing_tool_names_its_install_command_and_fails(self):
        os.remove(os.path.join(self.bin, "jq"))
        r = self.run_check()
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"(?m)^MISSING +jq .*install: sudo apt-get install -y jq$")
        self.assertIn("make bootstrap", r.stdout.splitlines()[-1])

    def test_the_wrong_rust_version_fails(self):
        self.standin(self.bin, "rustc", "echo 'rustc 1.80.0 (aaaa 2024-07-21)'")
        r = self.run_check()
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"(?m)^MISSING +rust .*pins 1\.95\.0.*rustup toolchain install 1\.95\.0")

    def test_no_postgresql_15_fails(self):
        os.remove(os.path.join(self.pg, "initdb"))
        r = self.run_check()
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"(?m)^MISSING +postgresql-15 .*sudo apt-get install -y postgresql-15")


if __name__ == "__main__":
    unittest.main()
