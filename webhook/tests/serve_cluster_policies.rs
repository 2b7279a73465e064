//! `portcullis serve` over TLS, watching the policy custom resources on the testkit's
//! API-server-shaped test server (a real HTTPS list/watch endpoint with bearer tokens, not a
//! kube-apiserver; see `portcullis_testkit::apiserver`): objects created, changed and deleted
//! at runtime change decisions; each object's `Ready` condition says whether it took; a refused
//! update keeps the previous version enforcing; readiness follows the watch, through an
//! unreachable API server, a dropped watch and a 410 Gone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use portcullis_testkit::apiserver::ApiServer;
use serde_json::{Value, json};
use serve_support::*;

const VALIDATE: &str = "/validate?timeout=10s";
const CGP: &str = "ClusterGuardrailPolicy";

/// A policy denying (or, with `mode: warn`, warning about) pods without a `team` label.
fn require_team(mode: &str, operator: &str) -> Value {
    json!({
        "apiVersion": "policy.portcullis.dev/v1alpha1",
        "kind": CGP,
        "metadata": {"name": "require-team"},
        "spec": {
            "mode": mode,
            "rules": [{"name": "team-label", "path": "$.metadata.labels.team", "operator": operator}],
        },
    })
}

struct Setup {
    work: Workdir,
    api: ApiServer,
    server: Server,
}

/// The test server, then `portcullis serve` with the shipped restricted policy in its folder
/// and a kubeconfig for the test server.
async fn setup() -> Setup {
    let api = ApiServer::start(policy_resources()).await.unwrap();
    start_with(api).await
}

async fn start_with(api: ApiServer) -> Setup {
    start_with_flags(api, &[]).await
}

async fn start_with_flags(api: ApiServer, extra: &[&str]) -> Setup {
    let work = Workdir::new();
    let kubeconfig = api.write_kubeconfig(work.dir.path()).unwrap();
    let mut flags = vec![
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--no-match",
        "allow",
    ];
    flags.extend_from_slice(extra);
    let server = work.start(&flags);
    Setup { work, api, server }
}

async fn ready(server: &Server) -> String {
    eventually("readyz to pass", || async {
        let (status, body) = server.readyz().await;
        (status == 200).then_some(body)
    })
    .await
}

/// The review of `pod`, once `check` accepts it (bounded by [`EVENTUALLY`]).
async fn review_becomes(
    client: &mut Client,
    pod: &Value,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let give_up = tokio::time::Instant::now() + EVENTUALLY;
    let mut n = 0;
    loop {
        n += 1;
        let response = client
            .review(VALIDATE, &review_for(&format!("r{n}"), pod))
            .await;
        if check(&response) {
            return response;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "{what}; last answer: {response}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The compliant pod's review, once `check` accepts it.
async fn decision_becomes(
    client: &mut Client,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    review_becomes(client, &compliant_pod(), what, check).await
}

/// The object's `Ready` condition once it describes `generation`.
async fn ready_condition(api: &ApiServer, kind: &str, name: &str, generation: i64) -> Value {
    ready_condition_in(api, kind, None, name, generation).await
}

/// [`ready_condition`] of a namespaced object.
async fn ready_condition_in(
    api: &ApiServer,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    generation: i64,
) -> Value {
    eventually(
        &format!("{kind}/{name} status for generation {generation}"),
        || async {
            let object = api.get(kind, namespace, name)?;
            let status = object.get("status")?;
            let condition = status["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "Ready")?
                .clone();
            (status["observedGeneration"] == generation
                && condition["observedGeneration"] == generation)
                .then_some(condition)
        },
    )
    .await
}

#[tokio::test]
async fn a_policy_created_changed_and_deleted_at_runtime_changes_decisions() {
    let Setup { work, api, server } = setup().await;
    let body = ready(&server).await;
    assert!(
        body.contains("[+]watch clusterguardrailpolicies ok: 0 object(s)"),
        "{body}"
    );
    let mut client = work.connect(&server).await;
    let response = client
        .review(VALIDATE, &review_for("before", &compliant_pod()))
        .await;
    assert_eq!(response["allowed"], true, "{response}");

    api.apply(require_team("enforce", "exists")).unwrap();
    let denied = decision_becomes(&mut client, "the new policy to deny", |r| {
        r["allowed"] == false
    })
    .await;
    let message = denied["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("require-team/team-label: "),
        "{message}"
    );
    let condition = ready_condition(&api, CGP, "require-team", 1).await;
    assert_eq!(condition["status"], "True", "{condition}");
    assert_eq!(condition["reason"], "Compiled", "{condition}");
    let managers: Vec<Value> =
        api.get(CGP, None, "require-team").unwrap()["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["manager"].clone())
            .collect();
    assert!(managers.contains(&json!("portcullis")), "{managers:?}");

    api.apply(require_team("warn", "exists")).unwrap();
    let warned = decision_becomes(&mut client, "the changed policy to warn", |r| {
        r["allowed"] == true && r["warnings"].as_array().is_some_and(|w| !w.is_empty())
    })
    .await;
    assert!(
        warned["warnings"][0]
            .as_str()
            .unwrap()
            .contains("team-label"),
        "{warned}"
    );
    assert_eq!(
        ready_condition(&api, CGP, "require-team", 2).await["status"],
        "True"
    );

    api.delete(CGP, None, "require-team").unwrap();
    decision_becomes(&mut client, "the deleted policy to stop warning", |r| {
        r["allowed"] == true && r["warnings"].as_array().is_none_or(Vec::is_empty)
    })
    .await;

    // A namespaced policy from the cluster applies in its own namespace only.
    api.apply(json!({
        "apiVersion": "policy.portcullis.dev/v1alpha1",
        "kind": "GuardrailPolicy",
        "metadata": {"name": "require-team", "namespace": "team-a"},
        "spec": {"rules": [{"name": "team-label", "path": "$.metadata.labels.team", "operator": "exists"}]},
    }))
    .unwrap();
    let mut pod = compliant_pod();
    pod["metadata"]["namespace"] = json!("team-a");
    let denied = review_becomes(
        &mut client,
        &pod,
        "the namespaced policy to deny in team-a",
        |r| r["allowed"] == false,
    )
    .await;
    assert!(
        denied["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with("team-a/require-team/")
    );
    let response = client
        .review(VALIDATE, &review_for("apps", &compliant_pod()))
        .await;
    assert_eq!(response["allowed"], true, "elsewhere: {response}");

    // The counts are updated after the status writes that follow a change: wait for them.
    let needles = [
        "portcullis_policies{source=\"cluster\",ready=\"true\"} 1",
        "portcullis_policies{source=\"file\",ready=\"true\"} 1",
        "portcullis_policy_status_writes_total{result=\"success\"}",
        "portcullis_policy_watch_last_event_timestamp_seconds{kind=\"guardrailpolicies\"}",
    ];
    eventually("the metrics to count the namespaced policy", || async {
        let metrics = server.metrics().await;
        needles.iter().all(|n| metrics.contains(n)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_invalid_update_is_refused_and_the_previous_version_keeps_enforcing() {
    let Setup { work, api, server } = setup().await;
    ready(&server).await;
    let mut client = work.connect(&server).await;
    api.apply(require_team("enforce", "exists")).unwrap();
    decision_becomes(&mut client, "the policy to deny", |r| r["allowed"] == false).await;

    api.apply(require_team("enforce", "exist")).unwrap();
    let condition = ready_condition(&api, CGP, "require-team", 2).await;
    assert_eq!(condition["status"], "False", "{condition}");
    assert_eq!(condition["reason"], "Invalid", "{condition}");
    let message = condition["message"].as_str().unwrap();
    assert!(
        message.starts_with("ClusterGuardrailPolicy \"require-team\": spec.rules[0].operator")
            && message.contains("exist")
            && message.ends_with("the previous version stays in force"),
        "{message}"
    );
    let response = client
        .review(VALIDATE, &review_for("still", &compliant_pod()))
        .await;
    assert_eq!(
        response["allowed"], false,
        "the last good version still denies: {response}"
    );

    // A refused object blocks no other.
    let mut other = require_team("warn", "exists");
    other["metadata"]["name"] = json!("also-owner");
    other["spec"]["rules"][0] =
        json!({"name": "owner", "path": "$.metadata.labels.owner", "operator": "exists"});
    api.apply(other).unwrap();
    assert_eq!(
        ready_condition(&api, CGP, "also-owner", 1).await["status"],
        "True"
    );
    let line = "[+]watch clusterguardrailpolicies ok: 2 object(s), 1 not ready";
    eventually(line, || async {
        server.readyz().await.1.contains(line).then_some(())
    })
    .await;
    let needle = "portcullis_policies{source=\"cluster\",ready=\"false\"} 1";
    eventually(needle, || async {
        server.metrics().await.contains(needle).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_api_server_at_start_keeps_it_unready_until_it_answers() {
    let api = ApiServer::start(policy_resources()).await.unwrap();
    api.apply(require_team("enforce", "exists")).unwrap();
    api.set_reachable(false);
    let Setup { work, api, server } = start_with(api).await;
    let body = eventually("readyz to say the watch fails", || async {
        let (status, body) = server.readyz().await;
        (status == 503 && body.contains("[-]watch clusterguardrailpolicies failed")).then_some(body)
    })
    .await;
    assert!(
        body.contains("[-]policies failed: no policy set loaded yet"),
        "{body}"
    );

    api.set_reachable(true);
    ready(&server).await;
    let mut client = work.connect(&server).await;
    let response = client
        .review(VALIDATE, &review_for("after", &compliant_pod()))
        .await;
    assert_eq!(
        response["allowed"], false,
        "the listed policy is in force: {response}"
    );
}

#[tokio::test]
async fn a_dropped_watch_and_a_410_resume_with_no_event_lost() {
    let Setup { work, api, server } = setup().await;
    ready(&server).await;
    let mut client = work.connect(&server).await;
    api.apply(require_team("enforce", "exists")).unwrap();
    decision_becomes(&mut client, "the policy to deny", |r| r["allowed"] == false).await;

    // Cut mid-stream, then change while the watch is down: the resumed watch gets the change.
    api.drop_watches();
    api.apply(require_team("warn", "exists")).unwrap();
    decision_becomes(
        &mut client,
        "the change made while the watch was cut",
        |r| r["allowed"] == true,
    )
    .await;

    // Cut the watch, delete while it is down, and forget the history: the watch resumes from a
    // version the server no longer has, gets 410, and lists again; the list lacks the object,
    // so it is gone.
    let lists_before = lists(&api);
    api.set_reachable(false);
    eventually("the watches to be cut", || async {
        (api.open_watches() == 0).then_some(())
    })
    .await;
    api.delete(CGP, None, "require-team").unwrap();
    api.compact();
    api.set_reachable(true);
    decision_becomes(&mut client, "the deletion made across the 410", |r| {
        r["allowed"] == true && r["warnings"].as_array().is_none_or(Vec::is_empty)
    })
    .await;
    assert!(
        lists(&api) > lists_before,
        "a 410 makes the client list again"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics
            .contains("portcullis_policy_watch_restarts_total{kind=\"clusterguardrailpolicies\"}"),
        "{metrics}"
    );
    ready(&server).await;
}

#[tokio::test]
async fn a_status_write_the_api_server_forbids_leaves_the_policy_enforcing() {
    let api = ApiServer::start(policy_resources()).await.unwrap();
    api.deny("patch", "clusterguardrailpolicies/status");
    let Setup { work, api, server } = start_with(api).await;
    ready(&server).await;
    let mut client = work.connect(&server).await;
    api.apply(require_team("enforce", "exists")).unwrap();
    decision_becomes(&mut client, "the policy to deny", |r| r["allowed"] == false).await;
    let metrics = eventually("a failed status write to be counted", || async {
        let m = server.metrics().await;
        m.contains("portcullis_policy_status_writes_total{result=\"error\"}")
            .then_some(m)
    })
    .await;
    assert!(
        api.get(CGP, None, "require-team")
            .unwrap()
            .get("status")
            .is_none(),
        "{metrics}"
    );
    assert!(
        server.log_text().contains("forbidden"),
        "{}",
        server.log_text()
    );
}

/// List requests (not watches) for the guardrail kind so far.
fn lists(api: &ApiServer) -> usize {
    api.requests()
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.path.ends_with("/clusterguardrailpolicies")
                && !r.query.contains("watch=")
        })
        .count()
}

#[tokio::test]
async fn an_exception_object_counts_only_in_the_listed_namespaces_and_its_status_says_so() {
    let api = ApiServer::start(policy_resources()).await.unwrap();
    let Setup { work, api, server } =
        start_with_flags(api, &["--exception-namespaces", "team-a"]).await;
    ready(&server).await;
    let mut client = work.connect(&server).await;
    for namespace in ["team-a", "team-b"] {
        api.apply(json!({
            "apiVersion": "policy.portcullis.dev/v1alpha1",
            "kind": "PolicyException",
            "metadata": {"name": "run-as-root", "namespace": namespace},
            "spec": {
                "match": {"kinds": ["Pod"], "names": ["rooty"]},
                "exceptions": [{"policyName": "pod-security-restricted"}],
                "podSecurity": [
                    {"controlName": "runAsNonRoot", "images": ["registry.example/*"]},
                    {"controlName": "runAsUser", "images": ["registry.example/*"]},
                ],
            },
        }))
        .unwrap();
    }
    let mut pod = root_pod();
    pod["metadata"]["namespace"] = json!("team-a");
    let admitted = review_becomes(&mut client, &pod, "the exception to admit in team-a", |r| {
        r["allowed"] == true
    })
    .await;
    assert!(
        admitted["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("policy exception team-a/run-as-root waived"),
        "{admitted}"
    );
    let listed =
        ready_condition_in(&api, "PolicyException", Some("team-a"), "run-as-root", 1).await;
    assert_eq!(listed["status"], "True", "{listed}");

    let unlisted =
        ready_condition_in(&api, "PolicyException", Some("team-b"), "run-as-root", 1).await;
    assert_eq!(unlisted["status"], "False", "{unlisted}");
    assert_eq!(unlisted["reason"], "NamespaceNotAllowed", "{unlisted}");
    assert!(
        unlisted["message"].as_str().unwrap().contains("team-b"),
        "{unlisted}"
    );
    pod["metadata"]["namespace"] = json!("team-b");
    let response = client.review(VALIDATE, &review_for("team-b", &pod)).await;
    assert_eq!(response["allowed"], false, "{response}");
}
