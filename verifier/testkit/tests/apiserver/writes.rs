//! Writes of whole objects, as `portcullis serve --report-interval` makes them for
//! wgpolicyk8s.io reports: server-side apply that creates and then updates as one field manager,
//! merge patches, deletes, and the RBAC verbs `patch` and `delete` on the main resource, apart
//! from those on `/status`.

use portcullis_testkit::apiserver::{ApiServer, Resource};
use reqwest::Method;
use serde_json::{Value, json};

use super::support::{Watch, client, rv, summary};

const APPLY: &str = "application/apply-patch+yaml";
const MERGE: &str = "application/merge-patch+json";
const REPORTS: &str = "/apis/wgpolicyk8s.io/v1alpha2/namespaces/apps/policyreports";
const CLUSTER_REPORTS: &str = "/apis/wgpolicyk8s.io/v1alpha2/clusterpolicyreports";
const AS_PORTCULLIS: &str = "?fieldManager=portcullis&force=true";
const FORBIDDEN_USER: &str = "User \"system:serviceaccount:portcullis-system:portcullis\"";

async fn server() -> ApiServer {
    ApiServer::start(vec![
        Resource::namespaced(
            "wgpolicyk8s.io",
            "v1alpha2",
            "PolicyReport",
            "policyreports",
        ),
        Resource::cluster(
            "wgpolicyk8s.io",
            "v1alpha2",
            "ClusterPolicyReport",
            "clusterpolicyreports",
        ),
    ])
    .await
    .unwrap()
}

/// A PolicyReport in `apps` with these labels and fields besides its identity.
fn report(name: &str, labels: Value, rest: Value) -> Value {
    let mut body = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
                          "metadata": {"name": name, "namespace": "apps", "labels": labels}});
    body.as_object_mut()
        .unwrap()
        .extend(rest.as_object().unwrap().clone());
    body
}

/// One request; the answer's HTTP status and JSON body.
async fn send(
    server: &ApiServer,
    method: Method,
    path_and_query: &str,
    content_type: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = client(server)
        .request(method, format!("{}{path_and_query}", server.url()))
        .bearer_auth(server.token());
    if let Some(body) = body {
        req = req
            .header("content-type", content_type)
            .body(body.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn patch(server: &ApiServer, path: &str, content_type: &str, body: &Value) -> (u16, Value) {
    send(server, Method::PATCH, path, content_type, Some(body)).await
}

async fn delete(server: &ApiServer, path: &str) -> (u16, Value) {
    send(server, Method::DELETE, path, "", None).await
}

fn reason(body: &Value) -> Option<&str> {
    body["reason"].as_str()
}

#[tokio::test]
async fn apply_creates_a_report_then_updates_what_its_manager_owns() {
    let server = server().await;
    let mut watch = Watch::open_at(
        &server,
        REPORTS,
        &format!("resourceVersion={}", server.resource_version()),
    )
    .await;
    let first = report(
        "r1",
        json!({"app": "web", "stale": "yes"}),
        json!({"scope": {"kind": "Pod", "name": "web"}, "results": [{"policy": "p", "result": "fail"}],
               "summary": {"pass": 0, "fail": 1}, "status": {"ignored": true}}),
    );
    let (status, created) = patch(
        &server,
        &format!("{REPORTS}/r1{AS_PORTCULLIS}"),
        APPLY,
        &first,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let meta = &created["metadata"];
    assert_eq!(
        (meta["namespace"].as_str(), meta["generation"].as_i64()),
        (Some("apps"), Some(1))
    );
    assert_eq!(meta["uid"].as_str().map(str::len), Some(36));
    assert!(meta["creationTimestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(rv(&created), server.resource_version());
    assert_eq!(created["summary"], json!({"pass": 0, "fail": 1}));
    assert_eq!(created.get("status"), None, "status is not written here");
    let entry = &meta["managedFields"][0];
    assert_eq!(
        (entry["manager"].as_str(), entry["operation"].as_str()),
        (Some("portcullis"), Some("Apply"))
    );
    assert_eq!(entry.get("subresource"), None);
    let added = watch.event().await;
    assert_eq!(summary(&added), ("ADDED".into(), "r1".into()));
    assert_eq!(added["object"], created);
    assert_eq!(
        server.get("PolicyReport", Some("apps"), "r1").unwrap(),
        created
    );

    // Another manager's label: the next apply by portcullis leaves it alone.
    let team = json!({"metadata": {"labels": {"team": "x"}}});
    let (status, labelled) = patch(
        &server,
        &format!("{REPORTS}/r1?fieldManager=kubectl-label"),
        MERGE,
        &team,
    )
    .await;
    assert_eq!(status, 200, "{labelled}");
    assert_eq!(labelled["metadata"]["generation"], 1, "labels are metadata");

    let second = report(
        "r1",
        json!({"app": "web2"}),
        json!({"results": [], "summary": {"pass": 1, "fail": 0}}),
    );
    let path = format!("{REPORTS}/r1{AS_PORTCULLIS}");
    let (status, updated) = patch(&server, &path, APPLY, &second).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["metadata"]["generation"], 2);
    assert_eq!(updated["metadata"]["uid"], meta["uid"]);
    assert_eq!(updated.get("scope"), None, "no longer applied: removed");
    assert_eq!(updated["results"], json!([]));
    assert_eq!(updated["summary"], json!({"pass": 1, "fail": 0}));
    assert_eq!(
        updated["metadata"]["labels"],
        json!({"app": "web2", "team": "x"})
    );
    assert_eq!(
        summary(&watch.event().await),
        ("MODIFIED".into(), "r1".into())
    );
    let modified = watch.event().await;
    assert_eq!(modified["object"], updated);

    // The same apply again changes nothing a generation counts.
    let (status, again) = patch(&server, &path, APPLY, &second).await;
    assert_eq!(status, 200);
    assert_eq!(again["metadata"]["generation"], 2);
    assert!(rv(&again) > rv(&updated));

    let (status, listed) = send(&server, Method::GET, REPORTS, "", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn an_apply_without_a_manager_or_for_another_object_is_a_bad_request() {
    let server = server().await;
    let body = report("r1", json!({}), json!({"summary": {}}));
    let (status, refused) = patch(&server, &format!("{REPORTS}/r1"), APPLY, &body).await;
    assert_eq!((status, reason(&refused)), (400, Some("BadRequest")));
    assert_eq!(refused["kind"], "Status");
    assert_eq!(
        refused["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );

    let (status, refused) = patch(
        &server,
        &format!("{REPORTS}/r2{AS_PORTCULLIS}"),
        APPLY,
        &body,
    )
    .await;
    assert_eq!((status, reason(&refused)), (400, Some("BadRequest")));
    assert_eq!(
        refused["message"],
        "the name of the object (r1) does not match the name on the URL (r2)"
    );
    let elsewhere = "/apis/wgpolicyk8s.io/v1alpha2/namespaces/other/policyreports/r1";
    let (status, refused) = patch(
        &server,
        &format!("{elsewhere}{AS_PORTCULLIS}"),
        APPLY,
        &body,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        refused["message"],
        "the namespace of the object (apps) does not match the namespace on the URL (other)"
    );
    let (status, refused) = patch(
        &server,
        &format!("{CLUSTER_REPORTS}/r1{AS_PORTCULLIS}"),
        APPLY,
        &body,
    )
    .await;
    assert_eq!(status, 400, "a PolicyReport is not a ClusterPolicyReport");
    assert_eq!(
        refused["message"],
        "the kind in the apply patch (PolicyReport) is not the kind served at this path (ClusterPolicyReport)"
    );
    assert_eq!(server.get("PolicyReport", Some("apps"), "r1"), None);
    assert_eq!(server.get("PolicyReport", Some("apps"), "r2"), None);

    // A cluster-scoped report is created at the cluster scope.
    let cluster = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "ClusterPolicyReport",
                         "metadata": {"name": "c1"}, "summary": {"pass": 3}});
    let (status, created) = patch(
        &server,
        &format!("{CLUSTER_REPORTS}/c1{AS_PORTCULLIS}"),
        APPLY,
        &cluster,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["metadata"].get("namespace"), None);
    assert_eq!(
        server.get("ClusterPolicyReport", None, "c1").unwrap()["summary"],
        json!({"pass": 3})
    );

    let requests = server.requests();
    let answered: Vec<_> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.status))
        .collect();
    assert_eq!(
        answered,
        [
            ("PATCH", 400),
            ("PATCH", 400),
            ("PATCH", 400),
            ("PATCH", 400),
            ("PATCH", 201)
        ]
    );
    let last = requests.last().unwrap();
    assert_eq!(last.path, format!("{CLUSTER_REPORTS}/c1"));
    assert_eq!(last.query, "fieldManager=portcullis&force=true");
    assert_eq!(last.content_type.as_deref(), Some(APPLY));
}

#[tokio::test]
async fn a_merge_patch_of_the_object_changes_all_but_its_status() {
    let server = server().await;
    let stored = server
        .apply(
            json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "ClusterPolicyReport",
                       "metadata": {"name": "c1"}, "summary": {"pass": 1, "fail": 0}}),
        )
        .unwrap();
    let status_path = format!("{CLUSTER_REPORTS}/c1/status");
    let (status, _) = patch(
        &server,
        &status_path,
        MERGE,
        &json!({"status": {"phase": "kept"}}),
    )
    .await;
    assert_eq!(status, 200);

    let body = json!({"summary": {"fail": 2}, "status": {"phase": "overwritten?"},
                      "metadata": {"name": "renamed?", "uid": "forged"}});
    let (status, merged) = patch(&server, &format!("{CLUSTER_REPORTS}/c1"), MERGE, &body).await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["summary"], json!({"pass": 1, "fail": 2}));
    assert_eq!(merged["status"], json!({"phase": "kept"}));
    assert_eq!(
        (&merged["metadata"]["name"], &merged["metadata"]["uid"]),
        (&json!("c1"), &stored["metadata"]["uid"])
    );
    assert_eq!(merged["metadata"]["generation"], 2);
    let update = merged["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e.get("subresource").is_none())
        .unwrap();
    assert_eq!(
        (update["manager"].as_str(), update["operation"].as_str()),
        (Some("unknown"), Some("Update"))
    );
    assert_eq!(
        server.get("ClusterPolicyReport", None, "c1").unwrap(),
        merged
    );

    let (status, missing) = patch(&server, &format!("{CLUSTER_REPORTS}/c2"), MERGE, &body).await;
    assert_eq!((status, reason(&missing)), (404, Some("NotFound")));
    assert_eq!(
        missing["message"],
        "clusterpolicyreports.wgpolicyk8s.io \"c2\" not found"
    );
    let (status, refused) = patch(
        &server,
        &format!("{CLUSTER_REPORTS}/c1"),
        "application/json-patch+json",
        &json!([]),
    )
    .await;
    assert_eq!(
        (status, reason(&refused)),
        (415, Some("UnsupportedMediaType"))
    );
}

#[tokio::test]
async fn a_delete_answers_the_object_and_a_second_one_is_not_found() {
    let server = server().await;
    let body = report("r1", json!({}), json!({"summary": {"pass": 1}}));
    let (_, created) = patch(
        &server,
        &format!("{REPORTS}/r1{AS_PORTCULLIS}"),
        APPLY,
        &body,
    )
    .await;
    let mut watch = Watch::open_at(
        &server,
        REPORTS,
        &format!("resourceVersion={}", rv(&created)),
    )
    .await;

    let (status, deleted) = delete(&server, &format!("{REPORTS}/r1")).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["kind"], "PolicyReport");
    assert_eq!(deleted["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(deleted["summary"], json!({"pass": 1}));
    assert!(rv(&deleted) > rv(&created));
    let event = watch.event().await;
    assert_eq!(summary(&event), ("DELETED".into(), "r1".into()));
    assert_eq!(event["object"], deleted);
    assert_eq!(server.get("PolicyReport", Some("apps"), "r1"), None);

    let (status, again) = delete(&server, &format!("{REPORTS}/r1")).await;
    assert_eq!((status, reason(&again)), (404, Some("NotFound")));
    assert_eq!(
        again["message"],
        "policyreports.wgpolicyk8s.io \"r1\" not found"
    );

    // Neither the status subresource, nor a collection, nor PUT.
    server.apply(report("r2", json!({}), json!({}))).unwrap();
    for (method, path) in [
        (Method::DELETE, format!("{REPORTS}/r2/status")),
        (Method::DELETE, REPORTS.to_owned()),
        (Method::PUT, format!("{REPORTS}/r2")),
    ] {
        let (status, body) = send(&server, method.clone(), &path, "", None).await;
        assert_eq!(
            (status, reason(&body)),
            (405, Some("MethodNotAllowed")),
            "{method} {path}"
        );
    }
    assert!(server.get("PolicyReport", Some("apps"), "r2").is_some());
}

#[tokio::test]
async fn patch_and_delete_of_reports_are_denied_apart_from_their_status() {
    let server = server().await;
    server
        .apply(report("r1", json!({}), json!({"summary": {}})))
        .unwrap();
    let object = format!("{REPORTS}/r1");
    server.deny("delete", "policyreports");
    let (status, refused) = delete(&server, &object).await;
    assert_eq!((status, reason(&refused)), (403, Some("Forbidden")));
    assert_eq!(
        refused["message"],
        format!(
            "policyreports.wgpolicyk8s.io \"r1\" is forbidden: {FORBIDDEN_USER} cannot delete resource \"policyreports\" in API group \"wgpolicyk8s.io\" in the namespace \"apps\""
        )
    );
    assert!(server.get("PolicyReport", Some("apps"), "r1").is_some());

    let apply = report("r1", json!({}), json!({"summary": {"pass": 1}}));
    let applied = format!("{object}{AS_PORTCULLIS}");
    assert_eq!(patch(&server, &applied, APPLY, &apply).await.0, 200);
    server.deny("patch", "policyreports");
    let (status, refused) = patch(&server, &applied, APPLY, &apply).await;
    assert_eq!(status, 403);
    assert_eq!(
        refused["message"],
        format!(
            "policyreports.wgpolicyk8s.io \"r1\" is forbidden: {FORBIDDEN_USER} cannot patch resource \"policyreports\" in API group \"wgpolicyk8s.io\" in the namespace \"apps\""
        )
    );
    assert_eq!(patch(&server, &object, MERGE, &json!({})).await.0, 403);
    // The status subresource is a resource of its own to RBAC.
    let status_path = format!("{object}/status");
    let status_patch = json!({"status": {"phase": "x"}});
    assert_eq!(
        patch(&server, &status_path, MERGE, &status_patch).await.0,
        200
    );
    server.deny("patch", "policyreports/status");
    assert_eq!(
        patch(&server, &status_path, MERGE, &status_patch).await.0,
        403
    );
    // Other kinds are untouched by the denials.
    let cluster = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "ClusterPolicyReport",
                         "metadata": {"name": "c1"}});
    let (status, _) = patch(
        &server,
        &format!("{CLUSTER_REPORTS}/c1{AS_PORTCULLIS}"),
        APPLY,
        &cluster,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        delete(&server, &format!("{CLUSTER_REPORTS}/c1")).await.0,
        200
    );
}
