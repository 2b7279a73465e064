"""The signing action's scripts, run for real outside GitHub.

- install.sh against a release laid out under a file:// "server" (GITHUB_SERVER_URL), with a stand-in
  cosign that records how it was asked to verify SHA256SUMS: a good release installs; a signature
  cosign refuses, an archive that does not match SHA256SUMS or the pinned sha256, or a binary of
  another version fails with a message saying so.
- sign.sh with a key, against a loopback registry (Debian's docker-registry) and an image pushed
  here: the portcullis binary of PORTCULLIS_BIN signs and attests, the real cosign (.work/tools,
  pipelines/bootstrap.sh cosign) derives the public key, and the result verifies; with generated
  provenance, an SBOM and a Trivy report, every attestation is there. Bad inputs fail first.

The keyless path needs GitHub's OIDC token and the public Sigstore; it is not run here.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import tarfile
import time
import unittest
import urllib.request

import sign_action as sa
from treecase import TreeCase

BINARY = os.environ.get("PORTCULLIS_BIN") or os.path.join(sa.REPO, "target/debug/portcullis")
COSIGN = os.path.join(sa.REPO, ".work/tools/bin/cosign")
INSTALL = os.path.join(sa.ACTION_DIR, "install.sh")
SIGN = os.path.join(sa.ACTION_DIR, "sign.sh")
TARGET = "x86_64-unknown-linux-gnu"
TRIVY_REPORT = os.path.join(sa.REPO, "testdata/reports/trivy/alpine-distroless.json.golden")


def workspace(field):
    for line in sa.read(os.path.join(sa.REPO, "Cargo.toml")).splitlines():
        if line.startswith(f"{field} = "):
            return line.split('"')[1]
    raise AssertionError(f"Cargo.toml has no {field}")


def outputs(path):
    with open(path) as fh:
        return dict(line.rstrip("\n").split("=", 1) for line in fh if "=" in line)


class ScriptCase(TreeCase):
    def run_script(self, script, **env):
        self.github_output = os.path.join(self.root, "github_output")
        run_env = {
            "PATH": os.environ["PATH"],
            "HOME": self.root,
            "RUNNER_TEMP": os.path.join(self.root, "runner-temp"),
            "GITHUB_OUTPUT": self.github_output,
            "GITHUB_ACTION_PATH": sa.ACTION_DIR,
            **env,
        }
        os.makedirs(run_env["RUNNER_TEMP"], exist_ok=True)
        return subprocess.run([script], env=run_env, capture_output=True, text=True, timeout=300, cwd=self.root)

    def assert_fails_with(self, r, fragment):
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(fragment, r.stderr)


class InstallScript(ScriptCase):
    """install.sh against a fake release of this repository's version."""

    def setUp(self):
        super().setUp()
        self.version = workspace("version")
        self.slug = workspace("repository").removeprefix("https://github.com/")
        self.release = os.path.join(self.root, "server", self.slug, "releases/download", f"v{self.version}")
        self.archive = f"portcullis-{self.version}-{TARGET}.tar.gz"
        self.cosign_log = os.path.join(self.root, "cosign.args")
        self.cosign = self.write(
            "bin/cosign", f'#!/bin/sh\nprintf "%s\\n" "$@" >"{self.cosign_log}"\nexit "$STUB_RC"\n'
        )
        os.chmod(self.cosign, 0o755)
        self.make_release(f"portcullis {self.version}")

    def make_release(self, says):
        os.makedirs(self.release, exist_ok=True)
        binary = f"#!/bin/sh\necho '{says}'\n".encode()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo(f"portcullis-{self.version}-{TARGET}/portcullis")
            info.size, info.mode = len(binary), 0o755
            tar.addfile(info, io.BytesIO(binary))
        self.put(self.archive, buf.getvalue())
        self.put("portcullis.cdx.json", b"{}")
        sums = "".join(
            f"{hashlib.sha256(self.get(f)).hexdigest()}  {f}\n" for f in (self.archive, "portcullis.cdx.json")
        )
        self.put("SHA256SUMS", sums.encode())
        self.put("SHA256SUMS.sigstore.json", b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}')

    def put(self, name, data):
        with open(os.path.join(self.release, name), "wb") as fh:
            fh.write(data)

    def get(self, name):
        with open(os.path.join(self.release, name), "rb") as fh:
            return fh.read()

    def install(self, rc=0, **env):
        return self.run_script(
            INSTALL,
            GITHUB_SERVER_URL=f"file://{self.root}/server",
            COSIGN=self.cosign,
            STUB_RC=str(rc),
            **env,
        )

    def test_a_signed_matching_release_installs_and_runs(self):
        r = self.install()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = outputs(self.github_output)
        self.assertEqual(out["version"], self.version)
        self.assertTrue(out["bin"].endswith(f"portcullis-{self.version}-{TARGET}/portcullis"), out)
        self.assertEqual(
            subprocess.run([out["bin"]], capture_output=True, text=True).stdout.strip(), f"portcullis {self.version}"
        )
        args = sa.read(self.cosign_log).splitlines()
        identity = f"https://github.com/{self.slug}/.github/workflows/release.yml@refs/tags/v{self.version}"
        self.assertEqual(args[0], "verify-blob")
        self.assertEqual(args[args.index("--certificate-identity") + 1], identity)
        self.assertEqual(
            args[args.index("--certificate-oidc-issuer") + 1], "https://token.actions.githubusercontent.com"
        )
        self.assertTrue(args[args.index("--bundle") + 1].endswith("SHA256SUMS.sigstore.json"))
        self.assertTrue(args[-1].endswith("/SHA256SUMS"))

    def test_sums_cosign_refuses_fail(self):
        self.assert_fails_with(
            self.install(rc=1), f"SHA256SUMS of v{self.version} is not signed by https://github.com/"
        )

    def test_an_archive_that_does_not_match_its_sum_fails(self):
        sums = self.get("SHA256SUMS")
        self.make_release(f"portcullis {self.version} (tampered)")
        self.put("SHA256SUMS", sums)
        self.assert_fails_with(self.install(), f"{self.archive} does not match SHA256SUMS")

    def test_the_pinned_sha256_must_match_too(self):
        self.assert_fails_with(self.install(PORTCULLIS_SHA256="0" * 64), f"not the pinned portcullis-sha256 {'0' * 64}")
        good = hashlib.sha256(self.get(self.archive)).hexdigest()
        self.assertEqual(self.install(PORTCULLIS_SHA256=good).returncode, 0)
        self.assert_fails_with(self.install(PORTCULLIS_SHA256="abc"), "is not 64 lower-case hex digits")

    def test_a_binary_of_another_version_fails(self):
        self.make_release("portcullis 9.9.9")
        self.assert_fails_with(self.install(), f'says "portcullis 9.9.9", not portcullis {self.version}')

    def test_a_version_that_was_not_released_fails(self):
        self.assert_fails_with(self.install(PORTCULLIS_VERSION="v7.0.0"), "is v7.0.0 a release of")
        self.assert_fails_with(self.install(PORTCULLIS_VERSION="latest"), '"latest" is not a release version')

    def test_a_local_binary_is_used_as_is(self):
        local = self.write("built/portcullis", f"#!/bin/sh\necho 'portcullis {self.version}'\n")
        r = self.install(PORTCULLIS_BINARY=local)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = outputs(self.github_output)
        self.assertTrue(os.stat(out["bin"]).st_mode & stat.S_IXUSR)
        self.assertFalse(os.path.exists(self.cosign_log), "no release is checked for a local binary")
        self.assert_fails_with(self.install(PORTCULLIS_BINARY="nope"), "portcullis-binary: no file nope")
        self.assert_fails_with(
            self.install(PORTCULLIS_BINARY=local, PORTCULLIS_VERSION="1.0.0"), "drop portcullis-version"
        )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, dict(resp.headers), resp.read()


def push_image(registry, repository, tag):
    """Pushes a one-layer OCI image; returns its manifest digest."""
    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w") as tar:
        body = f"{repository}:{tag}\n".encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    layer = gzip.compress(layer_tar.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_tar.getvalue()).hexdigest()]},
        }
    ).encode()

    def blob(data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        _, headers, _ = http("POST", f"http://{registry}/v2/{repository}/blobs/uploads/")
        location = headers["Location"]
        if location.startswith("/"):
            location = f"http://{registry}{location}"
        sep = "&" if "?" in location else "?"
        http("PUT", f"{location}{sep}digest={digest}", data, {"Content-Type": "application/octet-stream"})
        return {"digest": digest, "size": len(data)}

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(layer)}],
        }
    ).encode()
    http(
        "PUT",
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        manifest,
        {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


# GitHub Actions' variables for a push to main of acme/app, as `portcullis provenance --from github` reads them.
GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/app",
    "GITHUB_REPOSITORY_ID": "1000",
    "GITHUB_REPOSITORY_OWNER_ID": "2000",
    "GITHUB_REF": "refs/heads/main",
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/release.yml@refs/heads/main",
    "GITHUB_WORKFLOW_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_RUN_ID": "42",
    "GITHUB_RUN_ATTEMPT": "1",
    "RUNNER_ENVIRONMENT": "github-hosted",
    "RUNNER_OS": "Linux",
    "RUNNER_ARCH": "X64",
}


class SignWithKey(ScriptCase):
    """sign.sh in mode key against a loopback registry."""

    @classmethod
    def setUpClass(cls):
        for path, fix in (
            (BINARY, "build it (cargo build -p portcullis-webhook) or set PORTCULLIS_BIN"),
            (COSIGN, "run pipelines/bootstrap.sh cosign"),
        ):
            if not os.access(path, os.X_OK):
                raise AssertionError(f"no {path}: {fix}")
        registry = shutil.which("docker-registry")
        if registry is None:
            raise AssertionError("no docker-registry: apt-get install docker-registry (pipelines/bootstrap.sh does)")
        cls.store = TreeCase()
        cls.store.setUp()
        port = free_port()
        cls.registry = f"127.0.0.1:{port}"
        config = cls.store.write(
            "registry.yml",
            f"version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {cls.store.root}/data}}}}\n"
            f"http: {{addr: {cls.registry}}}\n",
        )
        cls.proc = subprocess.Popen([registry, "serve", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                http("GET", f"http://{cls.registry}/v2/")
                break
            except OSError:
                if time.monotonic() > deadline or cls.proc.poll() is not None:
                    cls.tearDownClass()
                    raise AssertionError(f"docker-registry did not answer on {cls.registry}") from None
                time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        try:
            cls.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
            cls.proc.wait()
        cls.store.doCleanups()

    def setUp(self):
        super().setUp()
        self.image = f"{self.registry}/acme/app-{hashlib.sha256(self.id().encode()).hexdigest()[:12]}"
        self.digest = push_image(self.registry, self.image.split("/", 1)[1], "1.0")
        subprocess.run(
            [BINARY, "keygen", "--output-key-prefix", os.path.join(self.root, "ci")],
            env={**os.environ, "PORTCULLIS_PASSWORD": "s3cret"},
            check=True,
            capture_output=True,
        )
        self.key = sa.read(os.path.join(self.root, "ci.key"))

    def sign(self, **env):
        base = {
            "PORTCULLIS_BIN": BINARY,
            "COSIGN": COSIGN,
            "PORTCULLIS_ALLOW_HTTP_REGISTRY": "true",
            "SIGN_IMAGE": self.image,
            "SIGN_DIGEST": self.digest,
            "SIGN_MODE": "key",
            "SIGN_KEY": self.key,
            "SIGN_KEY_PASSWORD": "s3cret",
        }
        return self.run_script(SIGN, **{**base, **env})

    def verifies(self, *args):
        return subprocess.run(
            [
                BINARY,
                *args,
                "--allow-http-registry",
                "--key",
                os.path.join(self.root, "ci.pub"),
                f"{self.image}@{self.digest}",
            ],
            capture_output=True,
            text=True,
        )

    def test_a_given_predicate_is_attested_and_verifies_in_the_classic_format(self):
        predicate = {
            "buildDefinition": {
                "buildType": "https://example.com/build/v1",
                "externalParameters": {"nonce": self.id()},
                "resolvedDependencies": [],
            },
            "runDetails": {"builder": {"id": "https://example.com/builder"}},
        }
        self.write("in/provenance.json", json.dumps(predicate))
        r = self.sign(SIGN_PROVENANCE_PREDICATE="in/provenance.json", SIGN_BUNDLE_FORMAT="classic")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = outputs(self.github_output)
        self.assertEqual(out["digest"], self.digest)
        self.assertEqual(out["certificate-identity"], "")
        self.assertEqual(out["artifact-name"], "provenance-" + self.digest.removeprefix("sha256:"))
        self.assertEqual(json.loads(sa.read(out["provenance"])), predicate)
        self.assertFalse(os.path.exists(os.path.join(self.root, "runner-temp/portcullis-sign/signing.key")))
        self.assertEqual(self.verifies("verify").returncode, 0)
        nonce = f"$.buildDefinition.externalParameters.nonce == {self.id()}"
        r = self.verifies("verify-attestation", "--type", "slsaprovenance1", "--condition", nonce)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wrong = self.verifies("verify-attestation", "--type", "slsaprovenance1", "--condition", nonce + "x")
        self.assertNotEqual(wrong.returncode, 0, "a condition on another value must fail")

    def test_generated_provenance_sbom_and_vuln_report_are_attested_as_new_bundles(self):
        sbom = {
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
            "version": 1,
            "metadata": {"component": {"type": "application", "name": "app", "version": "1.0"}},
            "components": [{"type": "library", "name": "serde", "version": "1.0.0", "purl": "pkg:cargo/serde@1.0.0"}],
        }
        self.write("in/sbom.cdx.json", json.dumps(sbom))
        shutil.copy(TRIVY_REPORT, os.path.join(self.root, "in/trivy.json"))
        r = self.sign(
            **GITHUB_ENV,
            SIGN_SBOM="in/sbom.cdx.json",
            SIGN_VULNERABILITY_REPORT="in/trivy.json",
            SIGN_BUILD_ARGS="PROFILE=release\n\n  TARGET=x86_64  \n",
            SIGN_DEPENDENCIES="BASE=oci://registry.example/base@sha256:" + "a" * 64,
            SIGN_BUNDLE_FORMAT="new",
        )
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("attested slsaprovenance1 cyclonedx vuln", r.stdout)
        provenance = json.loads(sa.read(outputs(self.github_output)["provenance"]))
        self.assertEqual(
            provenance["buildDefinition"]["externalParameters"]["workflow"]["repository"], "https://github.com/acme/app"
        )
        build_type = provenance["buildDefinition"]["buildType"]
        for args in (
            (
                "verify-attestation",
                "--type",
                "slsaprovenance1",
                "--condition",
                f"$.buildDefinition.buildType == {build_type}",
            ),
            ("verify-attestation", "--type", "cyclonedx", "--condition", f"$.serialNumber == {sbom['serialNumber']}"),
            ("verify-attestation", "--type", "vuln", "--condition", "$.scanner.result.Results exists"),
        ):
            r = self.verifies(*args)
            self.assertEqual(r.returncode, 0, f"{args}: {r.stdout}{r.stderr}")

    def test_bad_inputs_fail_before_signing(self):
        for env, fragment in (
            ({"SIGN_DIGEST": "sha256:abc"}, 'digest: "sha256:abc" is not sha256:<64 hex>'),
            ({"SIGN_IMAGE": self.image + ":1.0"}, "has a tag; give the name only"),
            ({"SIGN_MODE": "keyles"}, 'mode: "keyles": say keyless or key'),
            ({"SIGN_MODE": "keyless"}, "mode keyless, but a key is given"),
            ({"SIGN_KEY": ""}, "mode key needs the key input"),
            ({"SIGN_SBOM": "missing.json"}, "sbom: no file missing.json"),
            ({"SIGN_BUILD_ARGS": "PROFILE"}, 'build-args: "PROFILE" is not KEY=VALUE'),
            ({"SIGN_BUNDLE_FORMAT": "v3"}, 'bundle-format: "v3": say classic or new'),
        ):
            with self.subTest(env=env):
                self.assert_fails_with(self.sign(**env), fragment)
        self.assertNotEqual(self.verifies("verify").returncode, 0, "nothing was signed")

    def test_a_wrong_key_password_fails_naming_the_key(self):
        self.write("in/provenance.json", '{"buildDefinition": {}, "runDetails": {}}')
        r = self.sign(SIGN_KEY_PASSWORD="wrong", SIGN_PROVENANCE_PREDICATE="in/provenance.json")
        self.assert_fails_with(r, "wrong password")
        self.assertIn("portcullis sign failed for", r.stderr)


if __name__ == "__main__":
    unittest.main()
