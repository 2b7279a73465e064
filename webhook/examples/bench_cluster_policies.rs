//! `make bench` part: the policy watch of the release binary, on the testkit's API-server-shaped
//! test server (HTTPS list/watch on loopback; not a kube-apiserver), printed beside a floor
//! measured in the same run.
//!
//! - load: 1,000 policy objects (500 `ClusterGuardrailPolicy`, 500 namespaced `GuardrailPolicy`)
//!   listed, compiled one by one and published. Target < 1 s, measured from the watch's start
//!   to the "cluster objects listed" log line of `portcullis serve`; also the time until all
//!   1,000 `Ready` statuses are written, and the process's RSS once loaded. Floor: compiling the
//!   same 1,000 documents as one set in this process (what any load must do).
//! - change: with reviews flowing on one connection, a policy object created at runtime until
//!   the first review it denies. Target < 1 s. Floor: one review's round trip.
//!
//! Times are the median of `RUNS` runs. Nothing is asserted; every loop is bounded; every
//! process started is stopped by PID.
//!
//! Needs the release binary (`cargo build --release -p portcullis-webhook`; `PORTCULLIS_BIN`
//! overrides its path).
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

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portcullis_testkit::apiserver::ApiServer;
use portcullis_webhook::serve::decide::{Policies, SourceFile};
use serde_json::{Value, json};

const OBJECTS: usize = 1_000;
const RUNS: usize = 3;
const CHANGES: usize = 5;
const TARGET: Duration = Duration::from_secs(1);
/// Any wait in this bench gives up after this long.
const CAP: Duration = Duration::from_secs(60);
const GROUP: &str = "policy.portcullis.dev";

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    if cfg!(debug_assertions) {
        println!("warning: debug build of the bench; run with --release");
    }
    let bin = fixtures::portcullis_bin();
    assert!(
        bin.is_file(),
        "{} not found: cargo build --release -p portcullis-webhook",
        bin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let pki = procs::Pki::write(dir.path());
    let files = dir.path().join("policies");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("baseline.yaml"), BASELINE).unwrap();
    let objects: Vec<Value> = (0..OBJECTS).map(object).collect();

    let floor = median((0..RUNS).map(|_| compile_floor(&objects)).collect());
    let mut loads = Vec::new();
    let mut statuses = Vec::new();
    let mut rss = Vec::new();
    for run in 0..RUNS {
        let api = server_with(&objects).await;
        let started = Instant::now();
        let serve = start(&bin, dir.path(), &pki, &files, &api, run).await;
        loads.push(load_time(&serve.log));
        statuses.push(all_ready(&api, &objects, started).await);
        rss.push(serve.portcullis.proc.memory_kib().0);
    }
    println!(
        "{OBJECTS} policy objects: listed and compiled in {:.0} ms (target < {} ms; floor, one in-process compile of the set: {:.0} ms); all {OBJECTS} Ready statuses written {:.0} ms after start; RSS {} MiB (median of {RUNS})",
        ms(median(loads)),
        TARGET.as_millis(),
        ms(floor),
        ms(median(statuses)),
        median(rss) / 1024,
    );

    let api = server_with(&objects[..10]).await;
    let serve = start(&bin, dir.path(), &pki, &files, &api, RUNS).await;
    let target = load::Target::new(serve.portcullis.admission, &pki.ca_pem);
    let mut conn = target.connect().await;
    let pod = fixtures::pod("web", &["registry.example/app:1".to_string()]);
    let mut round_trips = Vec::new();
    let mut changes = Vec::new();
    for change in 0..CHANGES {
        let sent = Instant::now();
        let (_, body) = conn.post(fixtures::review("floor", &pod)).await.unwrap();
        round_trips.push(sent.elapsed());
        assert!(
            allowed(&body),
            "before the change: {}",
            String::from_utf8_lossy(&body)
        );
        let applied = Instant::now();
        api.apply(deny_label(change)).unwrap();
        loop {
            let (_, body) = conn.post(fixtures::review("change", &pod)).await.unwrap();
            if !allowed(&body) {
                break;
            }
            assert!(applied.elapsed() < CAP, "the new policy never denied");
        }
        changes.push(applied.elapsed());
        api.delete("ClusterGuardrailPolicy", None, &format!("deny-{change}"))
            .unwrap();
        let removed = Instant::now();
        while !allowed(&conn.post(fixtures::review("back", &pod)).await.unwrap().1) {
            assert!(removed.elapsed() < CAP, "the deleted policy kept denying");
        }
    }
    println!(
        "policy object created while reviews flow: first denial after {:.1} ms (target < {} ms; floor, one review round trip: {:.2} ms; median of {CHANGES})",
        ms(median(changes)),
        TARGET.as_millis(),
        ms(median(round_trips)),
    );
}

const BASELINE: &str = "apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterGuardrailPolicy
metadata: {name: baseline}
spec:
  podSecurity: {level: baseline, version: latest}
";

/// The `i`th policy object: even ones cluster-wide, odd ones in a namespace of their own.
fn object(i: usize) -> Value {
    let spec = json!({
        "mode": "warn",
        "podSecurity": {"level": "restricted", "version": "latest"},
        "rules": [{"name": format!("label-{i}"), "path": format!("$.metadata.labels.l{i}"), "operator": "exists"}],
    });
    if i.is_multiple_of(2) {
        json!({"apiVersion": format!("{GROUP}/v1alpha1"), "kind": "ClusterGuardrailPolicy",
               "metadata": {"name": format!("p{i}")}, "spec": spec})
    } else {
        json!({"apiVersion": format!("{GROUP}/v1alpha1"), "kind": "GuardrailPolicy",
               "metadata": {"name": format!("p{i}"), "namespace": format!("team-{i}")}, "spec": spec})
    }
}

/// A cluster policy denying pods without the label `deny<n>`.
fn deny_label(n: usize) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/v1alpha1"), "kind": "ClusterGuardrailPolicy",
        "metadata": {"name": format!("deny-{n}")},
        "spec": {"rules": [{"name": "label", "path": format!("$.metadata.labels.deny{n}"), "operator": "exists"}]},
    })
}

async fn server_with(objects: &[Value]) -> ApiServer {
    let api = ApiServer::start(fixtures::policy_resources())
        .await
        .unwrap();
    for object in objects {
        api.apply(object.clone()).unwrap();
    }
    api
}

struct Serve {
    portcullis: procs::Portcullis,
    log: PathBuf,
}

/// `portcullis serve` with the baseline file and the test server's kubeconfig, once ready.
async fn start(
    bin: &Path,
    dir: &Path,
    pki: &procs::Pki,
    files: &Path,
    api: &ApiServer,
    run: usize,
) -> Serve {
    let run_dir = dir.join(format!("run-{run}"));
    std::fs::create_dir_all(&run_dir).unwrap();
    let kubeconfig = api.write_kubeconfig(&run_dir).unwrap();
    let portcullis = procs::start_portcullis(
        bin,
        &run_dir,
        pki,
        files,
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--no-match",
            "allow",
        ],
    )
    .await;
    let log = std::fs::read_dir(&run_dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .unwrap();
    Serve { portcullis, log }
}

/// From "Watching policy objects" to "Policies loaded; cluster objects listed", by the log's
/// own timestamps.
fn load_time(log: &Path) -> Duration {
    let text = std::fs::read_to_string(log).unwrap();
    let at = |message: &str| {
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["message"] == message)
            .and_then(|v| v["timestamp"].as_str().map(timestamp_seconds))
            .unwrap_or_else(|| panic!("no {message:?} in the log:\n{text}"))
    };
    let seconds = at("Policies loaded; cluster objects listed") - at("Watching policy objects");
    Duration::from_secs_f64(seconds.max(0.0))
}

/// Seconds since midnight of an RFC 3339 timestamp (the runs never cross midnight's boundary in
/// a way that matters: both stamps come from one start).
fn timestamp_seconds(stamp: &str) -> f64 {
    let time = stamp
        .split('T')
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches('Z');
    time.split(':')
        .map(|part| part.parse::<f64>().unwrap_or(0.0))
        .fold(0.0, |acc, part| acc * 60.0 + part)
}

/// Waits until every object has a `Ready` condition; the time since `started`.
async fn all_ready(api: &ApiServer, objects: &[Value], started: Instant) -> Duration {
    loop {
        let pending = objects.iter().filter(|o| {
            let kind = o["kind"].as_str().unwrap();
            let namespace = o["metadata"]["namespace"].as_str();
            let name = o["metadata"]["name"].as_str().unwrap();
            api.get(kind, namespace, name)
                .is_none_or(|o| o["status"]["conditions"][0]["type"] != "Ready")
        });
        if pending.count() == 0 {
            return started.elapsed();
        }
        assert!(started.elapsed() < CAP, "statuses not all written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The floor: the 1,000 documents compiled as one set in this process.
fn compile_floor(objects: &[Value]) -> Duration {
    let sources: Vec<SourceFile> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| SourceFile {
            path: PathBuf::from(format!("object-{i}")),
            text: o.to_string(),
        })
        .collect();
    let started = Instant::now();
    let policies = Policies::parse(&sources).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(policies.len(), objects.len());
    elapsed
}

fn allowed(body: &[u8]) -> bool {
    let review: Value = serde_json::from_slice(body).unwrap();
    review["response"]["allowed"] == true
}

fn median<T: Ord + Copy>(mut values: Vec<T>) -> T {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
