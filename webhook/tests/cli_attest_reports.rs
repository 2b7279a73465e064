//! `portcullis attest --vuln|--sbom` and `portcullis predicate` as a CI stage runs them, on the
//! scanners' own reports and SBOMs (`testdata/reports`), against a loopback registry: what is
//! attached is judged by the conditions of the library policies (`verify-attestation`, and the
//! policy file itself through `evaluate`), and the real cosign 3.1 reads it with the same
//! `--type`. Bad files and conflicting flags: `cli_attest_bad_input.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use cli_support::{fails_with, ok, portcullis_with, stderr};
use portcullis_testkit::cosign::{Cosign, PASSWORD};
use portcullis_testkit::{Registry, push_image, workspace_root};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
const TRIVY_CRITICAL: &str =
    "count($.scanner.result.Results[*].Vulnerabilities[?(@.Severity == 'CRITICAL')])";

/// The Trivy branch of `vulnerability-scan.example.yaml`, in `verify-attestation`'s text form.
fn trivy_scan_conditions() -> Vec<String> {
    vec![
        "age($.metadata.scanFinishedOn) < 7d".into(),
        "$.scanner.result.Results exists".into(),
        format!("{TRIVY_CRITICAL} == 0"),
    ]
}

/// Runs `portcullis` in `dir` with the keys' password.
fn portcullis(dir: &Path, args: &[&str]) -> Output {
    portcullis_with(dir, args, &[("PORTCULLIS_PASSWORD", PASSWORD)])
}

/// `testdata/reports/<name>`.
fn upstream(name: &str) -> PathBuf {
    workspace_root().join("testdata/reports").join(name)
}

fn upstream_json(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(upstream(name)).unwrap()).unwrap()
}

/// An hour ago, in RFC 3339: a fresh scan.
fn an_hour_ago() -> String {
    (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
        .format(&Rfc3339)
        .unwrap()
}

/// `portcullis attest --key ours.key --allow-http-registry ARGS IMAGE`, which must succeed.
fn attest(dir: &Path, args: &[&str], image: &str) {
    let base = ["attest", "--key", "ours.key", "--allow-http-registry"];
    ok(&portcullis(dir, &[&base[..], args, &[image]].concat()));
}

/// `portcullis verify-attestation --key ours.pub --type TYPE --condition C... IMAGE`.
fn verify_attestation(dir: &Path, kind: &str, conditions: &[String], image: &str) -> Output {
    let mut args = vec![
        "verify-attestation",
        "--key",
        "ours.pub",
        "--allow-http-registry",
        "--type",
        kind,
    ];
    for c in conditions {
        args.extend(["--condition", c.as_str()]);
    }
    args.push(image);
    portcullis(dir, &args)
}

/// The in-toto statements cosign 3 verified on `image` with `key` and `--type kind`.
fn cosign_statements(cosign: &Cosign, key: &str, kind: &str, image: &str) -> Vec<Value> {
    let args = [
        "verify-attestation",
        "--key",
        key,
        "--type",
        kind,
        "--insecure-ignore-tlog",
    ];
    let out = cosign.on(&args, image);
    assert!(
        out.status.success(),
        "cosign 3 verify-attestation --type {kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let envelope: Value = serde_json::from_str(l).unwrap();
            let payload = base64::engine::general_purpose::STANDARD
                .decode(envelope["payload"].as_str().unwrap())
                .unwrap();
            serde_json::from_slice(&payload).unwrap()
        })
        .collect()
}

/// An image in the test registry: by tag, and pinned to its digest (as cosign wants it).
struct Image {
    tagged: String,
    pinned: String,
}

/// A registry, cosign 3 with its working directory (where portcullis' key pair `ours` is too),
/// and an image `ci/<name>:1.0` per (name, bundle format), signed with `ours` in that format
/// (cosign 3 reads classic `.att` attestations only where it finds no bundle).
async fn setup(names: &[(&str, &str)]) -> (Registry, Cosign, Vec<Image>) {
    let registry = Registry::start().await.unwrap();
    let cosign = Cosign::v3();
    ok(&portcullis(
        cosign.dir(),
        &["keygen", "--output-key-prefix", "ours"],
    ));
    let mut images = Vec::new();
    for (name, format) in names {
        let repo = format!("{}/ci/{name}", registry.addr());
        let digest = push_image(
            &registry.addr(),
            &format!("ci/{name}"),
            "1.0",
            name.as_bytes(),
        )
        .await
        .unwrap();
        // verify-attestation and admission want the image signed by the key as well.
        let tagged = format!("{repo}:1.0");
        ok(&portcullis(
            cosign.dir(),
            &[
                "sign",
                "--key",
                "ours.key",
                "--allow-http-registry",
                "--bundle-format",
                format,
                &tagged,
            ],
        ));
        images.push(Image {
            tagged,
            pinned: format!("{repo}@{digest}"),
        });
    }
    (registry, cosign, images)
}

#[tokio::test]
async fn a_vuln_attestation_is_judged_by_the_vulnerability_policy_and_read_by_cosign3() {
    let (_registry, cosign, images) = setup(&[
        ("critical", "new"),
        ("clean", "new"),
        ("stale", "new"),
        ("grype", "classic"),
    ])
    .await;
    let d = cosign.dir();
    let [critical, clean, stale, grype] = [0, 1, 2, 3].map(|i| images[i].tagged.as_str());
    let fresh = an_hour_ago();
    let trivy_critical = upstream("trivy/alpine-39-high-critical.json.golden");
    let trivy_clean = upstream("trivy/alpine-distroless.json.golden");
    let grype_critical = upstream("grype/TestJsonImgsPresenter.golden");
    let path = |p: &PathBuf| p.display().to_string();

    // The critical report has no CreatedAt: the flag dates it.
    attest(
        d,
        &[
            "--vuln",
            &path(&trivy_critical),
            "--scan-finished-on",
            &fresh,
        ],
        critical,
    );
    attest(
        d,
        &["--vuln", &path(&trivy_clean), "--scan-finished-on", &fresh],
        clean,
    );
    // Without the flag the report's own CreatedAt (2021) is the scan time.
    attest(d, &["--vuln", &path(&trivy_clean)], stale);
    attest(
        d,
        &[
            "--vuln",
            &path(&grype_critical),
            "--scan-finished-on",
            &fresh,
            "--bundle-format",
            "classic",
        ],
        grype,
    );

    let conditions = trivy_scan_conditions();
    fails_with(
        &verify_attestation(d, "vuln", &conditions, critical),
        &format!("{TRIVY_CRITICAL}: expected == 0, found 2"),
    );
    let passed = ok(&verify_attestation(d, "vuln", &conditions, clean));
    assert!(
        passed.contains(&format!("attestation {VULN} (3 condition(s) met)")),
        "{passed}"
    );
    fails_with(
        &verify_attestation(d, "vuln", &conditions, stale),
        "age($.metadata.scanFinishedOn): expected < 7d, found 2021-08-25T12:20:30.000000005Z (age",
    );

    // The library policy itself, with the test's key and registry: its `any` of the Trivy and
    // Grype branches admits the clean scan and denies the others, each for its own reason.
    let pods = ["critical", "clean", "stale", "grype"];
    let policy = library_policy_for(d, "vulnerability-scan.example.yaml", critical);
    std::fs::write(d.join("vuln-policy.yaml"), policy).unwrap();
    let mut manifests = Vec::new();
    for (name, image) in pods.iter().zip(&images) {
        let image = &image.tagged;
        manifests.push(format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: apps}}\nspec:\n  containers: [{{name: a, image: '{image}'}}]\n"
        ));
    }
    std::fs::write(d.join("pods.yaml"), manifests.join("---\n")).unwrap();
    let judged = portcullis(
        d,
        &[
            "evaluate",
            "--policy",
            "vuln-policy.yaml",
            "--allow-http-registry",
            "--output",
            "json",
            "pods.yaml",
        ],
    );
    assert_eq!(judged.status.code(), Some(1), "{}", stderr(&judged));
    let text = String::from_utf8_lossy(&judged.stdout).to_string();
    let verdicts = verdicts_by_pod(&text);
    assert_eq!(verdicts.len(), 4, "{text}");
    assert_eq!(verdicts["clean"], "allowed", "{text}");
    assert!(
        verdicts["critical"].contains(&format!("[{TRIVY_CRITICAL}: expected == 0, found 2]")),
        "{text}"
    );
    assert!(
        verdicts["grype"].contains(
            "[count($.scanner.result.matches[?(@.vulnerability.severity == 'Critical')]): expected == 0, found 1]"
        ),
        "{text}"
    );
    assert!(
        verdicts["stale"].contains("age($.metadata.scanFinishedOn)"),
        "{text}"
    );

    // cosign 3 reads what portcullis attached with the same type, the report unchanged.
    let statements = cosign_statements(&cosign, "ours.pub", "vuln", &images[1].pinned);
    assert_eq!(statements.len(), 1, "{statements:#?}");
    let predicate = &statements[0]["predicate"];
    assert_eq!(statements[0]["predicateType"], VULN);
    assert_eq!(predicate["scanner"]["uri"], "pkg:github/aquasecurity/trivy");
    assert_eq!(
        predicate["scanner"]["result"],
        upstream_json("trivy/alpine-distroless.json.golden")
    );
    let grype_statements = cosign_statements(&cosign, "ours.pub", "vuln", &images[3].pinned);
    assert_eq!(
        grype_statements[0]["predicate"]["scanner"]["uri"],
        "pkg:github/anchore/grype"
    );
}

/// The library policy `file` with the test's key (`ours.pub` in `dir`) and the registry of
/// `image` in place of the project's.
fn library_policy_for(dir: &Path, file: &str, image: &str) -> String {
    let text =
        std::fs::read_to_string(workspace_root().join("policies/library").join(file)).unwrap();
    let begin = text.find("-----BEGIN PUBLIC KEY-----").unwrap();
    let end = text.find("-----END PUBLIC KEY-----").unwrap() + "-----END PUBLIC KEY-----".len();
    let key = std::fs::read_to_string(dir.join("ours.pub")).unwrap();
    let indented = key.trim().replace('\n', "\n          ");
    let registry = image.split('/').next().unwrap();
    let policy = format!("{}{indented}{}", &text[..begin], &text[end..])
        .replace("ghcr.io/portcullis-dev/**", &format!("{registry}/**"));
    assert!(
        policy.contains(registry) && !policy.contains("ghcr.io"),
        "{policy}"
    );
    policy
}

/// Pod name → "allowed", or its denial messages joined, from `evaluate --output json` (a line
/// per resource).
fn verdicts_by_pod(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .map(|line| {
            let r: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let verdict = if r["allowed"] == true {
                "allowed".to_string()
            } else {
                let messages: Vec<&str> = r["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["message"].as_str().unwrap())
                    .collect();
                messages.join("; ")
            };
            (r["name"].as_str().unwrap().to_string(), verdict)
        })
        .collect()
}

#[tokio::test]
async fn sbom_attestations_are_judged_and_read_by_cosign3_as_cyclonedx_and_spdxjson() {
    let (_registry, cosign, images) = setup(&[("cdx", "new"), ("spdx", "classic")]).await;
    let d = cosign.dir();
    let cdx = upstream("sbom/conda-cyclonedx.json.golden")
        .display()
        .to_string();
    let spdx = upstream("sbom/conda-spdx.json.golden")
        .display()
        .to_string();
    // A --type that names what --sbom attaches is accepted.
    attest(
        d,
        &["--sbom", &cdx, "--type", "cyclonedx"],
        &images[0].tagged,
    );
    attest(
        d,
        &["--sbom", &spdx, "--bundle-format", "classic"],
        &images[1].tagged,
    );

    // The licence conditions of sbom-licences.example.yaml and docs/conditions.md.
    let components = ["count($.components[*]) > 0".to_string()];
    let out = ok(&verify_attestation(
        d,
        "cyclonedx",
        &components,
        &images[0].tagged,
    ));
    assert!(
        out.contains("attestation https://cyclonedx.org/bom (1 condition(s) met)"),
        "{out}"
    );
    let agpl = ["count($.packages[?search(@.licenseConcluded, 'MIT')]) == 0".to_string()];
    fails_with(
        &verify_attestation(d, "spdxjson", &agpl, &images[1].tagged),
        "count($.packages[?search(@.licenseConcluded, 'MIT')]): expected == 0, found 1",
    );
    // The SPDX document is not a CycloneDX one.
    fails_with(
        &verify_attestation(d, "cyclonedx", &[], &images[1].tagged),
        "no https://cyclonedx.org/bom attestation",
    );

    for (kind, image, file) in [
        ("cyclonedx", &images[0], "sbom/conda-cyclonedx.json.golden"),
        ("spdxjson", &images[1], "sbom/conda-spdx.json.golden"),
    ] {
        let statements = cosign_statements(&cosign, "ours.pub", kind, &image.pinned);
        assert_eq!(statements.len(), 1, "{kind}: {statements:#?}");
        assert_eq!(statements[0]["predicate"], upstream_json(file), "{kind}");
    }
}

#[tokio::test]
async fn predicate_writes_what_cosign_attest_takes_and_prints_its_type() {
    let (_registry, cosign, images) = setup(&[("keyless", "new")]).await;
    let d = cosign.dir();
    let report = upstream("trivy/alpine-39-high-critical.json.golden");
    let fresh = an_hour_ago();
    let built = portcullis(
        d,
        &[
            "predicate",
            "--vuln",
            &report.display().to_string(),
            "--scan-finished-on",
            &fresh,
            "-o",
            "vuln.json",
        ],
    );
    // Standard output is the type name alone, for `cosign attest --type "$(...)"`.
    assert_eq!(ok(&built), "vuln");
    let predicate: Value =
        serde_json::from_slice(&std::fs::read(d.join("vuln.json")).unwrap()).unwrap();
    assert_eq!(
        predicate["scanner"]["result"],
        upstream_json("trivy/alpine-39-high-critical.json.golden")
    );

    // The keyless workflow's step, here with a key: cosign attaches the file with that type,
    // and portcullis judges what cosign attached.
    cosign.ok(&["generate-key-pair"]);
    let config = cosign.offline_signing_config();
    let signed = cosign.on(
        &[
            "sign",
            "--key",
            "cosign.key",
            "--signing-config",
            config,
            "--yes",
        ],
        &images[0].pinned,
    );
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let attach = [
        "attest",
        "--key",
        "cosign.key",
        "--signing-config",
        config,
        "--type",
        "vuln",
        "--predicate",
        "vuln.json",
        "--yes",
    ];
    let attached = cosign.on(&attach, &images[0].pinned);
    assert!(
        attached.status.success(),
        "cosign attest --type vuln: {}",
        String::from_utf8_lossy(&attached.stderr)
    );
    let conditions = trivy_scan_conditions();
    let mut args = vec![
        "verify-attestation",
        "--key",
        "cosign.pub",
        "--allow-http-registry",
        "--type",
        "vuln",
    ];
    for c in &conditions {
        args.extend(["--condition", c.as_str()]);
    }
    args.push(&images[0].tagged);
    fails_with(
        &portcullis(d, &args),
        &format!("{TRIVY_CRITICAL}: expected == 0, found 2"),
    );

    // An SBOM is written byte for byte; without -o the predicate goes to standard output and
    // the type name to standard error.
    let spdx = upstream("sbom/conda-spdx.json.golden");
    let out = portcullis(
        d,
        &[
            "predicate",
            "--sbom",
            &spdx.display().to_string(),
            "-o",
            "sbom.json",
        ],
    );
    assert_eq!(ok(&out), "spdxjson");
    assert_eq!(
        std::fs::read(d.join("sbom.json")).unwrap(),
        std::fs::read(&spdx).unwrap()
    );
    let piped = portcullis(
        d,
        &[
            "predicate",
            "--sbom",
            &upstream("sbom/conda-cyclonedx.json.golden")
                .display()
                .to_string(),
        ],
    );
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(stderr(&piped), "cyclonedx");
    assert_eq!(
        piped.stdout,
        std::fs::read(upstream("sbom/conda-cyclonedx.json.golden")).unwrap()
    );
}
