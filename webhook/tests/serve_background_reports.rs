//! `portcullis serve --report-interval` against the testkit's API-server-shaped test server (not
//! a real API server): every run audits the listed workloads and writes one PolicyReport per
//! resource by server-side apply, rewrites a report only when its results change, removes the
//! report of a deleted resource (and one left from before a restart), and never deletes on a
//! partial listing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use portcullis_testkit::apiserver::{ApiServer, Resource};
use portcullis_webhook::commands::audit::cluster::KINDS;
use serde_json::{Value, json};
use serve_support::*;

/// The policy kinds `serve` watches, the kinds the audit lists, and the report kinds.
fn resources() -> Vec<Resource> {
    let mut out = policy_resources();
    out.extend(
        KINDS
            .iter()
            .map(|&(group, version, kind, plural, namespaced)| {
                Resource::new(group, version, kind, plural, namespaced)
            }),
    );
    out.push(Resource::namespaced(
        "wgpolicyk8s.io",
        "v1alpha2",
        "PolicyReport",
        "policyreports",
    ));
    out.push(Resource::cluster(
        "wgpolicyk8s.io",
        "v1alpha2",
        "ClusterPolicyReport",
        "clusterpolicyreports",
    ));
    out
}

fn uid(api: &ApiServer, kind: &str, namespace: Option<&str>, name: &str) -> String {
    let object = api.get(kind, namespace, name).unwrap();
    object["metadata"]["uid"].as_str().unwrap().to_string()
}

/// The report named `name` in `apps` once `check` accepts it.
async fn report_becomes(
    api: &ApiServer,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    eventually(what, || async {
        api.get("PolicyReport", Some("apps"), name)
            .filter(|r| check(r))
    })
    .await
}

/// The value of the counter `name{labels}` in `/metrics`, 0 when absent.
async fn counter(server: &Server, series: &str) -> f64 {
    let text = server.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

const COMPLETE: &str = "portcullis_report_runs_total{result=\"complete\"}";
const PARTIAL: &str = "portcullis_report_runs_total{result=\"partial\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_follow_the_workloads_and_are_written_only_when_they_change() {
    let api = ApiServer::start(resources()).await.unwrap();
    api.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}))
        .unwrap();
    api.apply(compliant_pod()).unwrap();
    api.apply(root_pod()).unwrap();
    // A report left by an earlier run for a pod that is gone: found and removed.
    api.apply(json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": {"name": "0000-gone", "namespace": "apps",
            "labels": {"app.kubernetes.io/managed-by": "portcullis"}},
        "scope": {"apiVersion": "v1", "kind": "Pod", "name": "gone", "namespace": "apps", "uid": "0000-gone"},
        "results": [],
    }))
    .unwrap();
    let work = Workdir::new();
    let kubeconfig = api.write_kubeconfig(work.dir.path()).unwrap();
    let server = work.start(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--no-match",
        "allow",
        "--report-interval",
        "300ms",
        "--report-write-qps",
        "1000",
    ]);
    let web = uid(&api, "Pod", Some("apps"), "web");
    let rooty = uid(&api, "Pod", Some("apps"), "rooty");

    // One report per pod, named by its uid, scoped to it, owned by it, with its results.
    let report = report_becomes(&api, &rooty, "rooty's report", |_| true).await;
    assert_eq!(report["scope"]["kind"], "Pod");
    assert_eq!(report["scope"]["name"], "rooty");
    assert_eq!(report["scope"]["uid"], rooty.as_str());
    assert_eq!(
        report["metadata"]["ownerReferences"][0]["uid"],
        rooty.as_str()
    );
    assert_eq!(
        report["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "portcullis"
    );
    assert!(report["summary"]["fail"].as_u64().unwrap() >= 1, "{report}");
    let failing: Vec<&Value> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["result"] == "fail")
        .collect();
    assert!(
        failing
            .iter()
            .any(|r| r["policy"] == "pod-security-restricted" && r["rule"] == "runAsNonRoot"),
        "{report}"
    );
    let good = report_becomes(&api, &web, "web's report", |_| true).await;
    assert_eq!(good["summary"]["fail"], 0, "{good}");
    // The namespace's report is a cluster report.
    let ns = uid(&api, "Namespace", None, "apps");
    eventually("the namespace's cluster report", || async {
        api.get("ClusterPolicyReport", None, &ns)
    })
    .await;
    eventually("the stale report removed", || async {
        api.get("PolicyReport", Some("apps"), "0000-gone")
            .is_none()
            .then_some(())
    })
    .await;

    // Several runs later, web's unchanged report was applied once, with the field manager.
    let runs = counter(&server, COMPLETE).await;
    eventually("three more complete runs", || async {
        (counter(&server, COMPLETE).await >= runs + 3.0).then_some(())
    })
    .await;
    let writes: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(&format!("/policyreports/{web}")))
        .collect();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert!(
        writes[0].query.contains("fieldManager=portcullis"),
        "{writes:#?}"
    );
    assert_eq!(
        writes[0].content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );

    // rooty fixed: its report follows.
    let mut fixed = compliant_pod();
    fixed["metadata"]["name"] = json!("rooty");
    api.apply(fixed).unwrap();
    report_becomes(&api, &rooty, "rooty's report without failures", |r| {
        r["summary"]["fail"] == 0
    })
    .await;

    // rooty deleted: its report goes.
    api.delete("Pod", Some("apps"), "rooty").unwrap();
    eventually("rooty's report removed", || async {
        api.get("PolicyReport", Some("apps"), &rooty)
            .is_none()
            .then_some(())
    })
    .await;

    // Pods can no longer be listed: web is deleted, but a partial run never deletes its report.
    api.deny("list", "pods");
    let partial = counter(&server, PARTIAL).await;
    api.delete("Pod", Some("apps"), "web").unwrap();
    eventually("two partial runs", || async {
        (counter(&server, PARTIAL).await >= partial + 2.0).then_some(())
    })
    .await;
    assert!(api.get("PolicyReport", Some("apps"), &web).is_some());
    let log = server.log_text();
    assert!(log.contains("Background audit written"), "{log}");
    assert!(log.contains("pods: 0 listed, then 403 Forbidden"), "{log}");
}

#[test]
fn report_interval_without_the_api_server_is_refused_at_start() {
    let work = Workdir::new();
    let out = work.serve_to_exit(&["--cluster-policies", "off", "--report-interval", "1h"]);
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("--report-interval writes PolicyReports through the API server"),
        "{log}"
    );
}
