//! `portcullis audit --cluster` against the testkit's API-server-shaped test server (not a real
//! API server): the objects of the List dump, listed page by page, give the results the dump's
//! offline audit gives; an outage halfway through, or a kind RBAC does not allow, gives a
//! partial report that says so and exits 1; an API server that cannot be reached is an error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_support;
mod cli_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use audit_support::{DUMP, audit_args, stdout_ok};
use cli_support::portcullis;
use portcullis_testkit::apiserver::{ApiServer, Resource};
use portcullis_webhook::commands::audit::cluster::KINDS;
use serde_json::{Value, json};

/// The kinds `audit --cluster` lists, served.
fn resources() -> Vec<Resource> {
    KINDS
        .iter()
        .map(|&(group, version, kind, plural, namespaced)| {
            Resource::new(group, version, kind, plural, namespaced)
        })
        .collect()
}

/// A server holding namespaces `a`, `b`, `c` and the dump's four pod-carrying resources (its
/// Service is not a kind the audit lists).
async fn cluster_of_the_dump() -> ApiServer {
    let server = ApiServer::start(resources()).await.unwrap();
    for ns in ["a", "b", "c"] {
        server
            .apply(json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"team": ns}}}))
            .unwrap();
    }
    let text = std::fs::read_to_string(DUMP).unwrap();
    let docs = portcullis_policies::load::documents(DUMP, &text).unwrap();
    let mut applied = 0;
    for item in docs[0].value["items"].as_array().unwrap() {
        if item["kind"] != "Service" {
            server.apply(item.clone()).unwrap();
            applied += 1;
        }
    }
    assert_eq!(applied, 4);
    server
}

/// `audit --cluster --kubeconfig … --output FORMAT` then `rest`, run off the runtime (the
/// server answers on it).
async fn audit_cluster(server: &ApiServer, dir: &Path, format: &str, rest: &[&str]) -> Output {
    let kubeconfig = server.write_kubeconfig(dir).unwrap();
    let mut args = audit_args(format, &["--cluster", "--kubeconfig"]);
    args.push(kubeconfig.display().to_string());
    args.extend(rest.iter().map(|s| s.to_string()));
    let dir: PathBuf = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        portcullis(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap()
}

fn rows(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// How many results each (resource, policy, rule, status) has.
fn tally(rows: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in rows {
        let key = format!(
            "{} {}/{} {}/{} {}",
            r["resource"]["kind"],
            r["resource"]["namespace"],
            r["resource"]["name"],
            r["policy"],
            r["rule"],
            r["status"]
        );
        *out.entry(key).or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_audit_gives_what_the_offline_audit_of_its_objects_gives() {
    let server = cluster_of_the_dump().await;
    let dir = tempfile::tempdir().unwrap();
    let offline = rows(&audit_support::audit(dir.path(), "jsonl", &[DUMP]));
    let out = audit_cluster(
        &server,
        dir.path(),
        "jsonl",
        &["--page-size", "1", "--list-concurrency", "2"],
    )
    .await;
    let live = rows(&stdout_ok(&out));
    assert_eq!(live.len(), 4 * 14, "{live:#?}");
    assert_eq!(tally(&live), tally(&offline));
    // Each resource says which API server it came from, with no file line.
    let origin = server.url();
    assert!(live.iter().all(
        |r| r["resource"]["file"].as_str().unwrap().starts_with(&origin)
            && r["resource"]["line"] == 0
    ));

    // Read-only, one page of one object at a time: every kind listed, pods and namespaces over
    // several pages that continue one another.
    let requests = server.requests();
    assert!(requests.iter().all(|r| r.method == "GET"), "{requests:#?}");
    for (_, _, _, plural, _) in KINDS {
        assert!(
            requests
                .iter()
                .any(|r| r.path.ends_with(&format!("/{plural}")) && r.query.contains("limit=1")),
            "{plural} not listed: {requests:#?}"
        );
    }
    let pages = |plural: &str| {
        requests
            .iter()
            .filter(|r| r.path.ends_with(plural) && r.status == 200)
            .filter(|r| r.query.contains("continue="))
            .count()
    };
    assert_eq!(pages("/namespaces"), 2, "{requests:#?}");
    assert_eq!(pages("/pods"), 1, "{requests:#?}");

    let text = stdout_ok(&audit_cluster(&server, dir.path(), "text", &[]).await);
    assert!(
        text.starts_with("Audited 7 resources: 56 results"),
        "{text}"
    );
    assert!(!text.contains("PARTIAL"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_halfway_gives_a_partial_report_that_says_so() {
    let server = cluster_of_the_dump().await;
    let dir = tempfile::tempdir().unwrap();
    // One kind at a time, one object a page: 3 pages of namespaces, the first page of pods,
    // then the API server is gone.
    server.unreachable_after(4);
    let out = audit_cluster(
        &server,
        dir.path(),
        "jsonl",
        &["--page-size", "1", "--list-concurrency", "1"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rows = rows(&String::from_utf8_lossy(&out.stdout));
    let gaps: Vec<&Value> = rows.iter().filter(|r| r["rule"] == "listed").collect();
    assert_eq!(gaps.len(), KINDS.len() - 1, "{gaps:#?}");
    assert!(gaps.iter().all(|g| g["status"] == "error"));
    let pods = gaps
        .iter()
        .find(|g| g["resource"]["kind"] == "Pod")
        .unwrap();
    let reason = pods["reasons"][0].as_str().unwrap();
    assert!(
        reason.starts_with("the audit is partial: 1 pods listed, then "),
        "{reason}"
    );
    // The one pod listed (a/good, first in name order) is audited; nothing else is.
    let audited: Vec<String> = rows
        .iter()
        .filter(|r| r["rule"] != "listed")
        .map(|r| format!("{}/{}", r["resource"]["namespace"], r["resource"]["name"]))
        .collect();
    assert!(!audited.is_empty());
    assert!(audited.iter().all(|r| r == "\"a\"/\"good\""), "{audited:?}");

    // The text and HTML reports say it in their header.
    server.set_reachable(true);
    server.unreachable_after(4);
    let out = audit_cluster(
        &server,
        dir.path(),
        "text",
        &["--page-size", "1", "--list-concurrency", "1"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PARTIAL: pods: 1 listed, then "), "{text}");
    assert!(
        text.contains("PARTIAL: cronjobs: 0 listed, then "),
        "{text}"
    );
    server.set_reachable(true);
    server.unreachable_after(4);
    let out = audit_cluster(
        &server,
        dir.path(),
        "html",
        &["--page-size", "1", "--list-concurrency", "1"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("<b>Partial audit.</b>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_rbac_does_not_allow_is_a_gap_naming_the_refusal() {
    let server = cluster_of_the_dump().await;
    server.deny("list", "daemonsets");
    let dir = tempfile::tempdir().unwrap();
    let out = audit_cluster(&server, dir.path(), "text", &[]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PARTIAL: daemonsets: 0 listed, then 403 Forbidden: "),
        "{text}"
    );
    assert_eq!(text.matches("PARTIAL").count(), 1, "{text}");
    // The rest is audited: 3 namespaces, 2 pods, the Deployment.
    assert!(text.starts_with("Audited 6 resources:"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_that_cannot_be_reached_is_an_error_not_a_report() {
    let server = cluster_of_the_dump().await;
    server.set_reachable(false);
    let dir = tempfile::tempdir().unwrap();
    let out = audit_cluster(&server, dir.path(), "text", &[]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot list anything from the API server {}",
            server.url()
        )),
        "{stderr}"
    );
}

/// The dump's cluster with the policy kinds served too, holding a guardrail that requires a
/// `team` label and one that does not compile.
async fn cluster_with_policies() -> ApiServer {
    let mut kinds = resources();
    kinds.extend(
        portcullis_webhook::serve::cluster::policy_kinds()
            .iter()
            .map(|k| {
                let r = &k.resource;
                Resource::new(&r.group, &r.version, &r.kind, &r.plural, k.namespaced)
            }),
    );
    let server = ApiServer::start(kinds).await.unwrap();
    let text = std::fs::read_to_string(DUMP).unwrap();
    let docs = portcullis_policies::load::documents(DUMP, &text).unwrap();
    for item in docs[0].value["items"].as_array().unwrap() {
        if item["kind"] != "Service" {
            server.apply(item.clone()).unwrap();
        }
    }
    let guardrail = |name: &str, operator: &str| {
        json!({
            "apiVersion": "policy.portcullis.dev/v1alpha1",
            "kind": "ClusterGuardrailPolicy",
            "metadata": {"name": name},
            "spec": {
                "mode": "enforce",
                "rules": [{"name": "team-label", "path": "$.metadata.labels.team", "operator": operator}],
            },
        })
    };
    server.apply(guardrail("require-team", "exists")).unwrap();
    server.apply(guardrail("broken", "NoSuchOperator")).unwrap();
    server
}

/// `audit --cluster --cluster-policies --no-images --output FORMAT`, no `--policy`.
async fn audit_cluster_policies(server: &ApiServer, dir: &Path, format: &str) -> Output {
    let kubeconfig = server.write_kubeconfig(dir).unwrap();
    let args: Vec<String> = [
        "audit",
        "--cluster",
        "--cluster-policies",
        "--no-images",
        "--output",
        format,
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let dir: PathBuf = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        portcullis(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_policies_in_force_are_audited_against_and_a_refused_one_is_a_gap() {
    let server = cluster_with_policies().await;
    let dir = tempfile::tempdir().unwrap();
    let out = audit_cluster_policies(&server, dir.path(), "jsonl").await;
    // Partial: the broken policy is not in force, so nothing was audited against it.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rows = rows(&String::from_utf8_lossy(&out.stdout));
    let team: Vec<&Value> = rows
        .iter()
        .filter(|r| r["policy"] == "require-team")
        .collect();
    // The 4 pod-carrying resources have no team label: each fails the guardrail.
    assert_eq!(team.len(), 4, "{rows:#?}");
    assert!(
        team.iter()
            .all(|r| r["status"] == "fail" && r["rule"] == "team-label")
    );
    assert!(rows.iter().all(|r| r["policy"] != "broken"));

    let out = audit_cluster_policies(&server, dir.path(), "text").await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PARTIAL: ClusterGuardrailPolicy/broken: refused, so not audited against: "),
        "{text}"
    );

    // A policy kind that cannot be listed is an error, not a clean audit.
    server.deny("list", "clusterguardrailpolicies");
    let out = audit_cluster_policies(&server, dir.path(), "text").await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("listing clusterguardrailpolicies: 403 Forbidden"),
        "{stderr}"
    );
}

#[test]
fn without_policies_or_cluster_policies_the_audit_says_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let out = portcullis(dir.path(), &["audit", "--no-images", DUMP]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no policies: give --policy"), "{stderr}");
}
