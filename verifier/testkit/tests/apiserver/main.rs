//! The test API server speaks the Kubernetes list/watch protocol as a client sees it over HTTPS:
//! pages from a consistent snapshot, watch events from a resourceVersion, bookmarks, `410` after
//! compaction, cut streams, status patches, and the `Status` errors of authentication and RBAC;
//! `writes` has its writes of whole objects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
mod writes;

use std::time::Duration;

use portcullis_testkit::apiserver::{ApiServer, Resource};
use serde_json::{Value, json};

use support::{CIPS, Watch, cip, client, get_json, ip, patch_status, rv, server, summary};

#[tokio::test]
async fn lists_page_through_a_consistent_snapshot_in_namespace_name_order() {
    let server = server().await;
    for (ns, name) in [("b", "x"), ("a", "z"), ("a", "y"), ("b", "w"), ("c", "v")] {
        server.apply(ip(ns, name, json!({"app": ns}))).unwrap();
    }
    let all = "/apis/policy.portcullis.dev/v1alpha1/imagepolicies";
    let (status, first) = get_json(&server, &format!("{all}?limit=2")).await;
    assert_eq!(status, 200);
    assert_eq!(first["kind"], "ImagePolicyList");
    assert_eq!(first["apiVersion"], "policy.portcullis.dev/v1alpha1");
    let snapshot = first["metadata"]["resourceVersion"].clone();
    assert_eq!(snapshot, json!(server.resource_version().to_string()));
    // Changes between pages do not show in the pages that follow.
    server.apply(ip("a", "zz", json!({}))).unwrap();
    server.delete("ImagePolicy", Some("b"), "x").unwrap();

    let mut names = Vec::new();
    let mut page = first;
    loop {
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["kind"], "ImagePolicy");
            assert_eq!(item["apiVersion"], "policy.portcullis.dev/v1alpha1");
            let m = &item["metadata"];
            names.push(format!(
                "{}/{}",
                m["namespace"].as_str().unwrap(),
                m["name"].as_str().unwrap()
            ));
        }
        assert_eq!(page["metadata"]["resourceVersion"], snapshot);
        let Some(token) = page["metadata"]["continue"].as_str() else {
            break;
        };
        let (status, next) = get_json(&server, &format!("{all}?limit=2&continue={token}")).await;
        assert_eq!(status, 200, "{next}");
        page = next;
    }
    assert_eq!(names, ["a/y", "a/z", "b/w", "b/x", "c/v"]);

    // Now: one namespace, a label selector.
    let (_, in_a) = get_json(
        &server,
        "/apis/policy.portcullis.dev/v1alpha1/namespaces/a/imagepolicies",
    )
    .await;
    assert_eq!(in_a["items"].as_array().unwrap().len(), 3);
    let (_, labelled) = get_json(&server, &format!("{all}?labelSelector=app%3Db")).await;
    let labelled: Vec<_> = labelled["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].clone())
        .collect();
    assert_eq!(labelled, [json!("w")]);
}

#[tokio::test]
async fn a_watch_from_a_resource_version_sees_what_followed_it() {
    let server = server().await;
    let a = server.apply(cip("a", json!({"n": 1}))).unwrap();
    server.apply(cip("b", json!({}))).unwrap();
    let mut watch = Watch::open(&server, &format!("resourceVersion={}", rv(&a))).await;
    // History first: b was added after a.
    assert_eq!(summary(&watch.event().await), ("ADDED".into(), "b".into()));
    server.apply(cip("a", json!({"n": 2}))).unwrap();
    server.delete("ClusterImagePolicy", None, "b").unwrap();
    let modified = watch.event().await;
    assert_eq!(summary(&modified), ("MODIFIED".into(), "a".into()));
    assert_eq!(modified["object"]["spec"]["n"], 2);
    let deleted = watch.event().await;
    assert_eq!(summary(&deleted), ("DELETED".into(), "b".into()));
    assert!(rv(&deleted["object"]) > rv(&modified["object"]));
    assert_eq!(server.open_watches(), 1);

    // Without a resourceVersion: the current objects, as ADDED.
    let mut fresh = Watch::open(&server, "").await;
    assert_eq!(summary(&fresh.event().await), ("ADDED".into(), "a".into()));
}

#[tokio::test]
async fn bookmarks_go_to_the_watches_that_asked_for_them() {
    let server = server().await;
    let start = server.resource_version();
    let mut with = Watch::open(
        &server,
        &format!("resourceVersion={start}&allowWatchBookmarks=true"),
    )
    .await;
    let mut without = Watch::open(&server, &format!("resourceVersion={start}")).await;
    server.bookmark();
    server.apply(cip("a", json!({}))).unwrap();
    let bookmark = with.event().await;
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert_eq!(
        bookmark["object"],
        json!({"apiVersion": "policy.portcullis.dev/v1alpha1", "kind": "ClusterImagePolicy",
               "metadata": {"resourceVersion": start.to_string()}})
    );
    assert_eq!(with.event().await["type"], "ADDED");
    assert_eq!(without.event().await["type"], "ADDED");
}

#[tokio::test]
async fn after_compaction_old_watches_and_continue_tokens_are_expired() {
    let server = server().await;
    let old = server.apply(cip("a", json!({}))).unwrap();
    server.apply(cip("b", json!({}))).unwrap();
    let (_, page) = get_json(&server, &format!("{CIPS}?limit=1")).await;
    let token = page["metadata"]["continue"].as_str().unwrap().to_owned();
    server.apply(cip("c", json!({}))).unwrap();
    server.compact();

    let mut watch = Watch::open(&server, &format!("resourceVersion={}", rv(&old))).await;
    let error = watch.event().await;
    assert_eq!(error["type"], "ERROR");
    assert_eq!(error["object"]["kind"], "Status");
    assert_eq!(error["object"]["code"], 410);
    assert_eq!(error["object"]["reason"], "Expired");
    let message = format!(
        "too old resource version: {} ({})",
        rv(&old),
        server.resource_version()
    );
    assert_eq!(error["object"]["message"], message);
    assert!(
        watch.next().await.unwrap().is_none(),
        "the stream ends after the error"
    );

    let (status, body) = get_json(&server, &format!("{CIPS}?limit=1&continue={token}")).await;
    assert_eq!((status, body["reason"].as_str()), (410, Some("Expired")));
    // From the compaction point on, watching works again.
    let now = server.resource_version();
    let mut watch = Watch::open(&server, &format!("resourceVersion={now}")).await;
    server.apply(cip("d", json!({}))).unwrap();
    assert_eq!(summary(&watch.event().await), ("ADDED".into(), "d".into()));
}

#[tokio::test]
async fn dropped_watches_are_cut_mid_stream_and_timed_out_ones_end_cleanly() {
    let server = server().await;
    server.apply(cip("a", json!({}))).unwrap();
    let mut cut = Watch::open(&server, "resourceVersion=0").await;
    assert_eq!(cut.event().await["type"], "ADDED");
    server.drop_watches();
    assert!(
        cut.next().await.is_err(),
        "a cut stream is an error, not an end"
    );

    let mut timed = Watch::open(&server, "resourceVersion=0&timeoutSeconds=1").await;
    assert_eq!(timed.event().await["type"], "ADDED");
    assert!(
        timed.next().await.unwrap().is_none(),
        "a timeout is a clean end"
    );
    drop((cut, timed));
    // The server notices closed streams when it next polls them.
    for _ in 0..100 {
        if server.open_watches() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.open_watches(), 0);
}

#[tokio::test]
async fn status_apply_merges_conditions_by_type_without_a_new_generation() {
    let server = server().await;
    let created = server.apply(cip("a", json!({"x": 1}))).unwrap();
    let mut watch = Watch::open(&server, &format!("resourceVersion={}", rv(&created))).await;
    let apply = "application/apply-patch+yaml";
    let first = json!({"apiVersion": "policy.portcullis.dev/v1alpha1", "kind": "ClusterImagePolicy",
        "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Synced", "status": "True"}]}});
    let (status, body) = patch_status(&server, "a", "", apply, &first).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (400, Some("BadRequest")),
        "{body}"
    );
    let (status, _) = patch_status(
        &server,
        "a",
        "?fieldManager=portcullis&force=true",
        apply,
        &first,
    )
    .await;
    assert_eq!(status, 200);
    let second = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}], "observedGeneration": 1}});
    let (status, stored) = patch_status(
        &server,
        "a",
        "?fieldManager=portcullis&force=true",
        apply,
        &second,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        stored["status"],
        json!({"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "True"}],
               "observedGeneration": 1})
    );
    assert_eq!(stored["metadata"]["generation"], 1);
    assert!(rv(&stored) > rv(&created));
    let fields = &stored["metadata"]["managedFields"][0];
    assert_eq!(
        (
            fields["manager"].as_str(),
            fields["operation"].as_str(),
            fields["subresource"].as_str()
        ),
        (Some("portcullis"), Some("Apply"), Some("status"))
    );
    assert_eq!(watch.event().await["type"], "MODIFIED");
    let modified = watch.event().await;
    assert_eq!(modified["object"], stored);
    assert_eq!(server.get("ClusterImagePolicy", None, "a").unwrap(), stored);

    // A merge patch replaces lists; other media types and missing objects are refused.
    let merge = json!({"status": {"conditions": [], "spec": "ignored"}, "spec": {"x": 9}});
    let (status, merged) =
        patch_status(&server, "a", "", "application/merge-patch+json", &merge).await;
    assert_eq!(status, 200);
    assert_eq!(merged["status"]["conditions"], json!([]));
    assert_eq!(merged["spec"], json!({"x": 1}), "only .status is taken");
    let (status, body) =
        patch_status(&server, "a", "", "application/json-patch+json", &json!([])).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let (status, body) = patch_status(&server, "nope", "?fieldManager=m", apply, &second).await;
    assert_eq!((status, body["reason"].as_str()), (404, Some("NotFound")));
    assert_eq!(
        body["message"],
        "clusterimagepolicies.policy.portcullis.dev \"nope\" not found"
    );
}

#[tokio::test]
async fn generation_counts_spec_changes_and_apply_keeps_uid_and_status() {
    let server = server().await;
    let mut with_status = cip("a", json!({"x": 1}));
    with_status["status"] = json!({"phase": "made up"});
    let created = server.apply(with_status).unwrap();
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(created.get("status"), None, "a create writes no status");
    let uid = created["metadata"]["uid"].clone();
    assert_eq!(uid.as_str().unwrap().len(), 36);
    let status = json!({"status": {"phase": "Ready"}});
    patch_status(&server, "a", "", "application/merge-patch+json", &status).await;

    let mut relabelled = cip("a", json!({"x": 1}));
    relabelled["metadata"]["labels"] = json!({"team": "x"});
    relabelled["status"] = json!({"phase": "overwritten?"});
    let relabelled = server.apply(relabelled).unwrap();
    assert_eq!(relabelled["metadata"]["generation"], 1);
    assert_eq!(relabelled["status"], json!({"phase": "Ready"}));
    assert!(rv(&relabelled) > rv(&created));
    let changed = server.apply(cip("a", json!({"x": 2}))).unwrap();
    assert_eq!(changed["metadata"]["generation"], 2);
    assert_eq!(changed["metadata"]["uid"], uid);
    assert_eq!(
        changed["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );

    assert!(
        server
            .apply(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}))
            .is_err()
    );
    assert!(
        server
            .delete("ClusterImagePolicy", None, "missing")
            .is_err()
    );
}

#[tokio::test]
async fn only_the_token_is_authenticated_and_denied_verbs_are_forbidden() {
    let server = server().await;
    server.apply(cip("a", json!({}))).unwrap();
    let res = client(&server)
        .get(format!("{}{CIPS}", server.url()))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["kind"].as_str(), body["reason"].as_str()),
        (Some("Status"), Some("Unauthorized"))
    );

    assert_eq!(get_json(&server, CIPS).await.0, 200);
    server.deny("list", "clusterimagepolicies");
    server.deny("patch", "clusterimagepolicies/status");
    let (status, body) = get_json(&server, CIPS).await;
    assert_eq!(status, 403);
    assert_eq!(body["reason"], "Forbidden");
    assert_eq!(
        body["message"],
        "clusterimagepolicies.policy.portcullis.dev is forbidden: User \"system:serviceaccount:portcullis-system:portcullis\" cannot list resource \"clusterimagepolicies\" in API group \"policy.portcullis.dev\" at the cluster scope"
    );
    assert_eq!(
        get_json(&server, &format!("{CIPS}/a")).await.0,
        200,
        "get is still allowed"
    );
    let (status, _) =
        patch_status(&server, "a", "", "application/merge-patch+json", &json!({})).await;
    assert_eq!(status, 403);

    let (status, body) = get_json(&server, "/apis/other.dev/v1/things").await;
    assert_eq!((status, body["reason"].as_str()), (404, Some("NotFound")));
    let requests = server.requests();
    let last = requests.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str(), last.status),
        ("GET", "/apis/other.dev/v1/things", 404)
    );
    let patch = requests.iter().find(|r| r.method == "PATCH").unwrap();
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(requests[0].status, 401);
}

#[tokio::test]
async fn an_unreachable_server_cuts_connections_and_comes_back_on_the_same_port() {
    let server = server().await;
    let url = server.url();
    let mut watch = Watch::open(&server, "").await;
    server.set_reachable(false);
    // Nothing that happens while unreachable reaches an open watch.
    server.apply(cip("late", json!({}))).unwrap();
    let cut = watch.next().await;
    assert!(cut.is_err(), "the open watch is cut, not {cut:?}");
    let refused = client(&server)
        .get(format!("{url}{CIPS}"))
        .bearer_auth(server.token())
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");
    server.set_reachable(true);
    assert_eq!(server.url(), url);
    assert_eq!(get_json(&server, CIPS).await.0, 200);
}

#[tokio::test]
async fn the_kubeconfig_names_the_server_its_ca_and_the_token() {
    use base64::Engine as _;
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let path = server.write_kubeconfig(dir.path()).unwrap();
    assert_eq!(path, dir.path().join("kubeconfig"));
    let config: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(config["current-context"], "portcullis-testkit");
    assert_eq!(config["contexts"][0]["context"]["namespace"], "default");
    let cluster = &config["clusters"][0]["cluster"];
    assert_eq!(cluster["server"], server.url());
    let ca = base64::engine::general_purpose::STANDARD
        .decode(cluster["certificate-authority-data"].as_str().unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(ca).unwrap(), server.ca_pem());
    assert_eq!(config["users"][0]["user"]["token"], server.token());
}

#[tokio::test]
async fn core_kinds_are_served_under_api_v1() {
    let server = ApiServer::start(vec![
        Resource::namespaced("", "v1", "Secret", "secrets"),
        Resource::namespaced("", "v1", "ServiceAccount", "serviceaccounts"),
    ])
    .await
    .unwrap();
    server
        .apply(
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                      "metadata": {"name": "regcred", "namespace": "apps"},
                      "data": {".dockerconfigjson": "e30="}}),
        )
        .unwrap();
    server
        .apply(json!({"apiVersion": "v1", "kind": "ServiceAccount",
                      "metadata": {"name": "default", "namespace": "apps"},
                      "imagePullSecrets": [{"name": "regcred"}]}))
        .unwrap();

    let (status, secret) = get_json(&server, "/api/v1/namespaces/apps/secrets/regcred").await;
    assert_eq!(status, 200);
    assert_eq!(
        (secret["apiVersion"].as_str(), secret["type"].as_str()),
        (Some("v1"), Some("kubernetes.io/dockerconfigjson"))
    );
    let (status, sa) = get_json(&server, "/api/v1/namespaces/apps/serviceaccounts/default").await;
    assert_eq!(status, 200);
    assert_eq!(sa["imagePullSecrets"][0]["name"], "regcred");

    let (status, list) = get_json(&server, "/api/v1/namespaces/apps/secrets").await;
    assert_eq!((status, list["kind"].as_str()), (200, Some("SecretList")));
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

    let (status, body) = get_json(&server, "/api/v1/namespaces/apps/secrets/missing").await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "secrets \"missing\" not found");
    let (status, _) = get_json(&server, "/apis/v1/namespaces/apps/secrets/regcred").await;
    assert_eq!(status, 404, "core kinds are not under /apis");

    server.deny("get", "secrets");
    let (status, body) = get_json(&server, "/api/v1/namespaces/apps/secrets/regcred").await;
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        "secrets \"regcred\" is forbidden: User \"system:serviceaccount:portcullis-system:portcullis\" cannot get resource \"secrets\" in API group \"\" in the namespace \"apps\""
    );
}
