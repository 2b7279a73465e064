//! `make demo` part: a policy applied to the cluster while reviews flow.
//!
//! The testkit's API-server-shaped test server (HTTPS list/watch on loopback, bearer token; not
//! a kube-apiserver) holds the policy objects; `portcullis serve` (the binary given as the first
//! argument) watches it through a kubeconfig. One review of the same pod is sent every 50 ms
//! while the demo creates a policy, breaks it, fixes it and deletes it, and prints what each step
//! did to the decisions and to the object's `Ready` condition.
//!
//! Every wait is bounded; the server is stopped by PID on exit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "bench_admission/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "bench_admission/load.rs"]
mod load;
#[allow(dead_code)]
#[path = "bench_admission/procs.rs"]
mod procs;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use portcullis_testkit::apiserver::ApiServer;
use serde_json::{Value, json};

const GROUP: &str = "policy.portcullis.dev";
const KIND: &str = "ClusterGuardrailPolicy";
const EVERY: Duration = Duration::from_millis(50);
/// A step that changes nothing within this long is reported as such.
const STEP_CAP: Duration = Duration::from_secs(10);

fn main() {
    let bin = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(fixtures::portcullis_bin);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(demo(bin));
}

async fn demo(bin: PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pki = procs::Pki::write(dir.path());
    let files = dir.path().join("policies");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(
        files.join("baseline.yaml"),
        "apiVersion: policy.portcullis.dev/v1alpha1\nkind: ClusterGuardrailPolicy\nmetadata: {name: baseline}\nspec:\n  podSecurity: {level: baseline, version: latest}\n",
    )
    .unwrap();
    let api = ApiServer::start(fixtures::policy_resources())
        .await
        .unwrap();
    let kubeconfig = api.write_kubeconfig(dir.path()).unwrap();
    let serve = procs::start_portcullis(
        &bin,
        dir.path(),
        &pki,
        &files,
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--no-match",
            "allow",
        ],
    )
    .await;
    println!(
        "portcullis serve watches the test API server at {} (a list/watch test server, not a kube-apiserver); a review every {} ms\n",
        api.url(),
        EVERY.as_millis()
    );
    let mut conn = load::Target::new(serve.admission, &pki.ca_pem)
        .connect()
        .await;
    let pod = fixtures::pod("web", &["registry.example/app:1".to_string()]);
    let mut reviews = 0;

    println!(
        "{:<44} {:>9}  {:<10} READY CONDITION",
        "STEP", "AFTER", "DECISION"
    );
    println!("{}", "-".repeat(110));
    let steps: [Step; 4] = [
        (
            "create: require a team label",
            Some(require_team("exists")),
            |r| r["allowed"] == false,
        ),
        (
            "update: a typo in the operator",
            Some(require_team("exist")),
            |r| r["allowed"] == false,
        ),
        ("update: mode warn", Some(warn_team()), |r| {
            r["allowed"] == true && r["warnings"].as_array().is_some_and(|w| !w.is_empty())
        }),
        ("delete", None, |r| {
            r["allowed"] == true && r["warnings"].as_array().is_none_or(Vec::is_empty)
        }),
    ];
    for (label, object, expect) in steps {
        let generation = match object {
            Some(object) => api.apply(object).unwrap()["metadata"]["generation"].as_i64(),
            None => {
                api.delete(KIND, None, "require-team").unwrap();
                None
            }
        };
        let started = Instant::now();
        let mut response = Value::Null;
        while started.elapsed() < STEP_CAP {
            reviews += 1;
            let (_, body) = conn
                .post(fixtures::review(&format!("demo-{reviews}"), &pod))
                .await
                .unwrap();
            response = serde_json::from_slice::<Value>(&body).unwrap()["response"].take();
            if expect(&response) {
                break;
            }
            tokio::time::sleep(EVERY).await;
        }
        let after = if expect(&response) {
            format!("{} ms", started.elapsed().as_millis())
        } else {
            "no change".to_string()
        };
        let condition = match generation {
            Some(generation) => ready_condition(&api, generation).await,
            None => "(object deleted)".to_string(),
        };
        println!(
            "{label:<44} {after:>9}  {:<10} {condition}",
            decision(&response)
        );
    }
    println!(
        "\nThe typo was refused on its own (Ready=False) and the last good version kept denying. {reviews} reviews sent."
    );
}

/// A step: its label, the object applied (`None`: deleted), and the decision it should lead to.
type Step = (&'static str, Option<Value>, fn(&Value) -> bool);

fn require_team(operator: &str) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/v1alpha1"), "kind": KIND,
        "metadata": {"name": "require-team"},
        "spec": {"rules": [{"name": "team-label", "path": "$.metadata.labels.team", "operator": operator,
                            "message": "every pod names its team"}]},
    })
}

fn warn_team() -> Value {
    let mut policy = require_team("exists");
    policy["spec"]["mode"] = json!("warn");
    policy
}

fn decision(response: &Value) -> &'static str {
    match (
        response["allowed"].as_bool(),
        response["warnings"]
            .as_array()
            .is_some_and(|w| !w.is_empty()),
    ) {
        (Some(true), true) => "warned",
        (Some(true), false) => "allowed",
        (Some(false), _) => "denied",
        (None, _) => "error",
    }
}

/// The object's `Ready` condition once it describes `generation` (waits ≤ `STEP_CAP`).
async fn ready_condition(api: &ApiServer, generation: i64) -> String {
    let started = Instant::now();
    while started.elapsed() < STEP_CAP {
        if let Some(object) = api.get(KIND, None, "require-team") {
            let status = &object["status"];
            let condition = &status["conditions"][0];
            if status["observedGeneration"] == generation {
                let message = condition["message"].as_str().unwrap_or_default();
                let short: String = message.chars().take(300).collect();
                let message = if short.len() < message.len() {
                    format!("{short}…")
                } else {
                    short
                };
                return format!(
                    "{} {} (generation {generation}): {message}",
                    condition["status"].as_str().unwrap_or_default(),
                    condition["reason"].as_str().unwrap_or_default()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    format!("no status for generation {generation}")
}
