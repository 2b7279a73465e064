//! `portcullis audit`: results per resource × policy × rule, counted by checklist control, over a
//! `kubectl get -A -o yaml` List dump, standard input and a kustomize rendering of `deploy/`;
//! `--fail-on` exit codes; `--no-images` reports image rules as `skip`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_support;
mod cli_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use audit_support::{DUMP, WARN_POLICY};
use cli_support::{portcullis, portcullis_stdin};
use portcullis_testkit::{stdout_of, tool, workspace_root};
use serde_json::Value;

fn repo(path: &str) -> String {
    workspace_root().join(path).display().to_string()
}

const SIGNED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/signed-image-policy.yaml"
);

/// (pass, fail, warn, skip, error) per control, from `--output jsonl`.
type Table = BTreeMap<String, [usize; 5]>;

/// The `--output jsonl` rows of a run that exited with `code`.
fn jsonl(out: &Output, code: i32) -> Vec<Value> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn by_control(rows: &[Value]) -> Table {
    let mut t = Table::new();
    for r in rows {
        let i = ["pass", "fail", "warn", "skip", "error"]
            .iter()
            .position(|s| r["status"] == *s)
            .unwrap_or_else(|| panic!("status {}", r["status"]));
        let controls = r["controls"].as_array().unwrap();
        let keys: Vec<String> = if controls.is_empty() {
            vec![format!("(unmapped) {}", r["rule"].as_str().unwrap())]
        } else {
            controls
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
                .collect()
        };
        for k in keys {
            t.entry(k).or_default()[i] += 1;
        }
    }
    t
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(WARN_POLICY, dir.path().join("warn.yaml")).unwrap();
    std::fs::copy(SIGNED, dir.path().join("signed.yaml")).unwrap();
    dir
}

/// `audit` with each of `policies`, then `rest` (flags and inputs).
fn audit_args<'a>(policies: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["audit"];
    for p in policies {
        args.extend(["--policy", p]);
    }
    args.extend(rest);
    args
}

/// `audit` under the baseline and `warn.yaml` policies.
fn audit(dir: &Path, extra: &[&str], inputs: &[&str]) -> Output {
    let baseline = repo("policies/library/pod-security-baseline.yaml");
    portcullis(
        dir,
        &audit_args(&[&baseline, "warn.yaml"], &[extra, inputs].concat()),
    )
}

/// `audit` under `policy` of standard input `input`, as JSON lines, failing on `fail`.
fn audit_stdin(dir: &Path, policy: &str, input: &str) -> Output {
    let rest = ["--output", "jsonl", "--no-images", "--fail-on", "fail", "-"];
    portcullis_stdin(dir, &audit_args(&[policy], &rest), input)
}

#[test]
fn a_list_dump_counts_results_per_control() {
    let dir = setup();
    let out = audit(dir.path(), &["--output", "jsonl", "--no-images"], &[DUMP]);
    let rows = jsonl(&out, 0);
    // 4 pod-carrying resources × (12 baseline checks at latest + 2 hygiene rules); the Service has none.
    assert_eq!(rows.len(), 4 * 14);
    assert!(rows.iter().all(|r| r["resource"]["kind"] != "Service"));
    let t = by_control(&rows);
    let want: [(&str, [usize; 5]); 9] = [
        ("cis:5.2.2", [3, 1, 0, 0, 0]),
        ("cis:5.2.3", [3, 1, 0, 0, 0]),
        ("cis:5.2.12", [3, 1, 0, 0, 0]),
        ("cis:5.2.13", [3, 1, 0, 0, 0]),
        ("cis:5.2.11", [4, 0, 0, 0, 0]),
        ("pss:Privileged Containers", [3, 1, 0, 0, 0]),
        (
            "nsa:Kubernetes Pod security / Pod security enforcement",
            [44, 4, 0, 0, 0],
        ),
        ("(unmapped) imageHygiene.latestTag", [3, 0, 1, 0, 0]),
        ("(unmapped) imageHygiene.invalidReference", [4, 0, 0, 0, 0]),
    ];
    for (control, counts) in want {
        assert_eq!(t.get(control), Some(&counts), "{control}: {t:#?}");
    }

    // One hostNamespaces result for the Deployment, with both findings, its fix and its mode.
    let hostnet: Vec<&Value> = rows
        .iter()
        .filter(|r| r["status"] == "fail" && r["rule"] == "hostNamespaces")
        .collect();
    assert_eq!(hostnet.len(), 1);
    let r = hostnet[0];
    assert_eq!(r["resource"]["kind"], "Deployment");
    assert_eq!(r["resource"]["namespace"], "b");
    assert_eq!(r["mode"], "enforce");
    let paths: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "spec.template.spec.hostNetwork",
            "spec.template.spec.hostPID"
        ]
    );
    assert!(!r["fixes"].as_array().unwrap().is_empty());
    let warn: Vec<&Value> = rows.iter().filter(|r| r["status"] == "warn").collect();
    assert_eq!(warn.len(), 1);
    assert_eq!(
        (
            warn[0]["mode"].as_str(),
            warn[0]["resource"]["name"].as_str()
        ),
        (Some("warn"), Some("priv"))
    );
}

#[test]
fn text_summarises_by_control_and_lists_the_evidence() {
    let dir = setup();
    let out = audit(dir.path(), &["--no-images"], &[DUMP]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(
            "Audited 5 resources: 56 results (51 pass, 4 fail, 1 warn, 0 skip, 0 error)"
        ),
        "{text}"
    );
    let row = |control: &str| {
        text.lines()
            .find(|l| l.starts_with(control) && l[control.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("no row {control}: {text}"))
            .split_whitespace()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("cis:5.2.2"), ["0", "0", "0", "1", "3"]);
    assert!(
        text.contains("cis: CIS Kubernetes Benchmark, section 5 (Policies) v1.10.0"),
        "{text}"
    );
    assert!(text.contains("FAIL  DaemonSet c/agent ("), "{text}");
    assert!(
        text.contains("pod-security-baseline/hostPorts [enforce]"),
        "{text}"
    );
    assert!(text.contains("WARN  Pod a/priv ("), "{text}");
}

#[test]
fn fail_on_sets_the_exit_code() {
    let dir = setup();
    let code = |extra: &[&str], input: &str| audit(dir.path(), extra, &[input]).status.code();
    assert_eq!(code(&["--no-images", "--fail-on", "fail"], DUMP), Some(1));
    assert_eq!(code(&["--no-images", "--fail-on", "warn"], DUMP), Some(1));
    // Only the warning left: `fail` passes, `warn` does not.
    let warn_only = dir.path().join("warn-only.yaml");
    std::fs::write(
        &warn_only,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: w}\nspec:\n  containers: [{name: a, image: 'nginx:latest'}]\n",
    )
    .unwrap();
    let w = warn_only.to_str().unwrap();
    assert_eq!(code(&["--no-images", "--fail-on", "fail"], w), Some(0));
    assert_eq!(code(&["--no-images", "--fail-on", "warn"], w), Some(1));
    assert_eq!(
        code(&["--no-images"], DUMP),
        Some(0),
        "no --fail-on: exit 0"
    );
    assert_eq!(code(&["--no-images"], "missing.yaml"), Some(2), "bad input");
}

#[test]
fn stdin_is_read_and_an_unreadable_resource_is_an_error_result() {
    let dir = setup();
    let input = format!(
        "{}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: broken, namespace: a}}\nspec: {{containers: nginx}}\n",
        std::fs::read_to_string(DUMP).unwrap()
    );
    let baseline = repo("policies/library/pod-security-baseline.yaml");
    let rows = jsonl(&audit_stdin(dir.path(), &baseline, &input), 1);
    assert_eq!(rows.len(), 4 * 12 + 1);
    assert!(rows.iter().all(|r| r["resource"]["file"] == "-"));
    let errors: Vec<&Value> = rows.iter().filter(|r| r["status"] == "error").collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["resource"]["name"], "broken");
    assert_eq!(errors[0]["resource"]["document"], 2);
    assert!(
        errors[0]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("spec.containers"),
        "{}",
        errors[0]
    );
}

#[test]
fn no_images_reports_image_rules_as_skip() {
    let dir = setup();
    let args = audit_args(
        &["signed.yaml"],
        &["--output", "jsonl", "--no-images", DUMP],
    );
    let rows = jsonl(&portcullis(dir.path(), &args), 0);
    // registry.example images: hostnet, agent, good (priv's nginx is not covered).
    assert_eq!(rows.len(), 3, "{rows:#?}");
    for r in &rows {
        assert_eq!(
            (r["rule"].as_str(), r["status"].as_str()),
            (Some("verifyImage"), Some("skip"))
        );
        assert_eq!(r["reasons"][0], "image verification not run (--no-images)");
        assert!(
            r["controls"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "cis:5.5.1")
        );
    }
}

#[test]
fn no_match_reports_images_no_image_policy_covers_when_asked() {
    let dir = setup();
    let no_match = |setting: &str| {
        let rest = [
            "--output",
            "jsonl",
            "--no-images",
            "--no-match",
            setting,
            DUMP,
        ];
        let out = portcullis(dir.path(), &audit_args(&["signed.yaml"], &rest));
        let rows = jsonl(&out, 0);
        rows.into_iter()
            .filter(|r| r["policy"] == "no-match")
            .map(|r| {
                let name = r["resource"]["name"].as_str().unwrap().to_string();
                (name, r["status"].as_str().unwrap().to_string(), r)
            })
            .collect::<Vec<_>>()
    };
    assert!(
        no_match("allow").is_empty(),
        "allow is the default: nothing reported"
    );
    for (setting, status) in [("warn", "warn"), ("deny", "fail")] {
        let rows = no_match(setting);
        // One result per pod-carrying resource; only priv's nginx has no image policy.
        assert_eq!(rows.len(), 4, "{setting}: {rows:#?}");
        let flagged: Vec<&(String, String, Value)> =
            rows.iter().filter(|(_, s, _)| s != "pass").collect();
        assert_eq!(flagged.len(), 1, "{setting}: {rows:#?}");
        let (_, got, row) = flagged[0];
        assert_eq!(got, status);
        assert_eq!(row["rule"], "imagePolicy");
        let reason = row["reasons"][0].as_str().unwrap();
        assert!(
            reason.contains("no ClusterImagePolicy matches image"),
            "{reason}"
        );
    }
}

#[test]
fn a_kustomize_rendering_of_deploy_complies_with_its_own_policies() {
    let mut rendered = String::new();
    for overlay in [
        "deploy/overlays/dev/workloads",
        "deploy/overlays/dev/webhook",
    ] {
        rendered.push_str("---\n");
        rendered.push_str(&stdout_of(
            Command::new(tool("kubectl")).args(["kustomize", &repo(overlay)]),
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let policies = repo("deploy/base/webhook/policies");
    let rows = jsonl(&audit_stdin(dir.path(), &policies, &rendered), 0);
    let kinds: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["resource"]["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains("Deployment") && kinds.contains("StatefulSet"),
        "{kinds:?}"
    );
    assert!(rows.iter().any(|r| r["rule"] == "runAsNonRoot"));
    assert!(rows.iter().any(|r| r["rule"] == "resources.requireLimits"));
}

#[test]
fn folders_are_read_recursively_without_following_linked_folders() {
    let dir = setup();
    let m = dir.path().join("manifests");
    std::fs::create_dir_all(m.join("sub")).unwrap();
    std::fs::copy(DUMP, m.join("sub/dump.yaml")).unwrap();
    std::fs::write(m.join("README.md"), "not a manifest").unwrap();
    std::os::unix::fs::symlink(&m, m.join("loop")).unwrap();
    let out = audit(
        dir.path(),
        &["--output", "jsonl", "--no-images"],
        &["manifests"],
    );
    let rows = jsonl(&out, 0);
    assert_eq!(rows.len(), 4 * 14, "the dump once, through no link");
    assert!(
        rows.iter()
            .all(|r| r["resource"]["file"] == "manifests/sub/dump.yaml")
    );
}

/// More resources than one batch of evaluation (2,048), shared out across threads: JSON lines
/// come out in input order, every resource's results together, and a `fail` in the last batch
/// still sets the `--fail-on` exit status.
#[test]
fn a_long_stream_is_reported_in_input_order_and_fails_on_its_last_resource() {
    let dir = setup();
    let pod = |i: usize, privileged: bool| {
        format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{{\"name\":\"p{i}\",\"namespace\":\"a\"}},\
             \"spec\":{{\"containers\":[{{\"name\":\"c\",\"image\":\"r.example/a@sha256:{:064x}\",\
             \"securityContext\":{{\"privileged\":{privileged}}}}}]}}}}",
            i
        )
    };
    let count = 2_500;
    let docs: Vec<String> = (0..count).map(|i| pod(i, i == count - 1)).collect();
    let policy = repo("policies/library/pod-security-baseline.yaml");
    let out = audit_stdin(dir.path(), &policy, &docs.join("\n---\n"));
    let rows = jsonl(&out, 1);
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["resource"]["name"].as_str().unwrap())
        .collect();
    let mut order: Vec<&str> = names.clone();
    order.dedup();
    let want: Vec<String> = (0..count).map(|i| format!("p{i}")).collect();
    assert_eq!(order, want, "results out of input order");
    // Every resource has as many results as the first.
    let per_resource = names.iter().filter(|n| **n == "p0").count();
    assert!(per_resource > 0);
    assert_eq!(rows.len(), count * per_resource);
    let fails: Vec<&str> = rows
        .iter()
        .filter(|r| r["status"] == "fail")
        .map(|r| r["resource"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(fails, [format!("p{}", count - 1)]);
}
