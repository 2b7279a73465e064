//! `make bench` part: `portcullis audit` of the release binary, printed beside a floor measured
//! in the same run on the same machine.
//!
//! - offline: 10,000 resources (Pods, Deployments, StatefulSets, Jobs, CronJobs; compliant and
//!   not) under the shipped library policies with `--no-images`, once as YAML documents (as
//!   kustomize renders them) and once as JSON documents. Target ≤ 2 s. Floor: reading the same
//!   documents into JSON values in this process (what any audit must do before evaluating).
//! - cold images: 1,000 distinct images, signed and attested in a loopback `docker-registry`,
//!   one per Pod, under a `ClusterImagePolicy` trusting the signing key; each audit is a fresh
//!   process, so every image is verified cold. Floor: the same 1,000 verified straight with the
//!   verifier crate from this process, `--image-concurrency` (8) at a time.
//!
//! Wall times are the median of `RUNS` runs; the peak RSS (`VmHWM`) is sampled every 10 ms while
//! the audit runs. Nothing is asserted. Every process started is stopped by PID.
//!
//! Needs `docker-registry` (installed by `make bootstrap`) and the release binary
//! (`cargo build --release -p portcullis-webhook`; `PORTCULLIS_BIN` overrides its path).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Shared with bench_admission, which uses all of it; this bench uses part.
#[allow(dead_code)]
#[path = "bench_admission/fixtures.rs"]
mod fixtures;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use portcullis_verifier::{CacheConfig, PrivateKey, RegistryClient, Verifier};
use serde_json::{Value, json};

const RESOURCES: usize = 10_000;
const IMAGES: usize = 1_000;
const RUNS: usize = 3;
const CONCURRENCY: usize = 8;
const TARGET_OFFLINE: Duration = Duration::from_secs(2);
/// Any one audit run is stopped after this long.
const RUN_CAP: Duration = Duration::from_secs(300);
const LIBRARY: [&str; 5] = [
    "pod-security-restricted.yaml",
    "pod-security-baseline.yaml",
    "resource-limits.yaml",
    "image-hygiene.yaml",
    "signed-images.example.yaml",
];

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
        "{} not found: cargo build --release -p portcullis-webhook (or set PORTCULLIS_BIN)",
        bin.display()
    );
    let dir = tempfile::Builder::new()
        .prefix("portcullis-bench-audit-")
        .tempdir()
        .unwrap();

    // === offline ===
    let library = portcullis_testkit::workspace_root().join("policies/library");
    let policy_args: Vec<String> = LIBRARY
        .iter()
        .flat_map(|name| ["--policy".into(), library.join(name).display().to_string()])
        .collect();
    let docs = resources(RESOURCES);
    let yaml: Vec<String> = docs
        .iter()
        .map(|d| serde_saphyr::to_string(d).unwrap())
        .collect();
    let json: Vec<String> = docs.iter().map(|d| d.to_string()).collect();
    let offline = [
        ("YAML, as kustomize renders", yaml),
        ("JSON documents", json),
    ]
    .map(|(label, docs)| offline_audit(&bin, dir.path(), &policy_args, label, &docs));

    // === cold images ===
    eprintln!("bench_audit: pushing, signing and attesting {IMAGES} images");
    let (registry, reg, client) = fixtures::registry().await;
    let key = PrivateKey::generate();
    let setup = Instant::now();
    let images = fixtures::publish_tagged(&client, &reg, "bench/audit", IMAGES, &key).await;
    let setup = setup.elapsed();
    let policies = fixtures::policy_dir(dir.path(), &key);
    let pods = dir.path().join("pods.yaml");
    let docs: Vec<String> = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let pod = fixtures::pod(&format!("p{i}"), std::slice::from_ref(image));
            serde_json::to_string(&pod).unwrap()
        })
        .collect();
    std::fs::write(&pods, docs.join("\n---\n")).unwrap();
    let cold_args: Vec<String> = [
        "audit",
        "--policy",
        &policies.display().to_string(),
        "--allow-http-registry",
        "--image-concurrency",
        &CONCURRENCY.to_string(),
        "--output",
        "jsonl",
        &pods.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    let mut cold = Vec::new();
    let mut verified = 0;
    for _ in 0..RUNS {
        let run = audit(&bin, &cold_args);
        verified = run.passed_images;
        cold.push(run);
    }
    let mut direct = Vec::new();
    for _ in 0..RUNS {
        direct.push(verify_directly(&client, &images, &key).await);
    }
    let direct = median(direct);
    drop(registry);

    // === report ===
    let cold_wall = median(cold.iter().map(|r| r.wall).collect());
    let cold_rss = cold.iter().map(|r| r.peak_kib).max().unwrap_or(0);
    for line in offline {
        println!("{line}");
    }
    println!(
        "audit cold images: {IMAGES} signed + attested images, {verified} verified: median {} of {RUNS} runs ({:.0} images/s), peak RSS {:.1} MiB; floor (the verifier crate, {CONCURRENCY} at a time, in process) {} ({:.2}x); setup {:.1} s",
        ms(cold_wall),
        IMAGES as f64 / cold_wall.as_secs_f64(),
        cold_rss as f64 / 1024.0,
        ms(direct),
        cold_wall.as_secs_f64() / direct.as_secs_f64(),
        setup.as_secs_f64(),
    );
}

/// One audit run: wall time, peak RSS, result rows, and image rules that passed.
struct Run {
    wall: Duration,
    peak_kib: u64,
    rows: usize,
    passed_images: usize,
}

/// Runs `portcullis ARGS`, sampling its `VmHWM` until it exits (stopped after [`RUN_CAP`]).
fn audit(bin: &Path, args: &[String]) -> Run {
    let out_path = std::env::temp_dir().join(format!("bench-audit-{}.jsonl", std::process::id()));
    let out = std::fs::File::create(&out_path).unwrap();
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .stdout(out)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > RUN_CAP {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("portcullis audit ran over {RUN_CAP:?}: stopped");
        }
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            peak_kib = peak_kib.max(vm_hwm(&text));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = start.elapsed();
    // Exit 0: --fail-on is not given, so every result, failing or not, exits 0.
    assert!(status.success(), "portcullis {args:?}: {status}");
    let text = std::fs::read_to_string(&out_path).unwrap();
    std::fs::remove_file(&out_path).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let passed_images = rows
        .iter()
        .filter(|r| r["rule"] == "verifyImage" && r["status"] == "pass")
        .count();
    Run {
        wall,
        peak_kib,
        rows: rows.len(),
        passed_images,
    }
}

fn vm_hwm(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One offline figure: the audit of `docs` (written as one file) under `policy_args` with
/// `--no-images`, beside the floor of reading the same documents into JSON values in process.
fn offline_audit(
    bin: &Path,
    dir: &Path,
    policy_args: &[String],
    label: &str,
    docs: &[String],
) -> String {
    let input = dir.join("resources.yaml");
    std::fs::write(&input, docs.join("\n---\n")).unwrap();
    let mut args: Vec<String> = vec!["audit".into()];
    args.extend_from_slice(policy_args);
    args.extend(["--no-images", "--output", "jsonl"].map(String::from));
    args.push(input.display().to_string());
    let runs: Vec<Run> = (0..RUNS).map(|_| audit(bin, &args)).collect();
    let floor = median((0..RUNS).map(|_| parse_only(docs)).collect());
    let wall = median(runs.iter().map(|r| r.wall).collect());
    let peak_kib = runs.iter().map(|r| r.peak_kib).max().unwrap_or(0);
    format!(
        "audit offline ({label}): {RESOURCES} resources, {} results: median {} of {RUNS} runs, peak RSS {:.1} MiB (target ≤ {} s: {}); floor (read the documents only) {}",
        runs[0].rows,
        ms(wall),
        peak_kib as f64 / 1024.0,
        TARGET_OFFLINE.as_secs(),
        if wall <= TARGET_OFFLINE {
            "met"
        } else {
            "missed"
        },
        ms(floor),
    )
}

/// The offline floor: `docs` read into JSON values, one at a time, as JSON when they are.
fn parse_only(docs: &[String]) -> Duration {
    let start = Instant::now();
    let values: Vec<Value> = docs
        .iter()
        .map(|doc| match serde_json::from_str(doc) {
            Ok(v) => v,
            Err(_) => serde_saphyr::from_str(doc).unwrap(),
        })
        .collect();
    assert_eq!(values.len(), RESOURCES);
    start.elapsed()
}

/// The cold floor: every image verified with a fresh verifier, [`CONCURRENCY`] at a time.
async fn verify_directly(client: &RegistryClient, images: &[String], key: &PrivateKey) -> Duration {
    let verifier = Verifier::new(client.clone(), CacheConfig::default());
    let requirement = fixtures::requirement(key);
    let start = Instant::now();
    let ok = futures::stream::iter(images)
        .map(|image| {
            let (verifier, requirement) = (&verifier, &requirement);
            async move {
                let image = image.parse().unwrap();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                verifier.verify(&image, requirement, deadline).await.is_ok()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    assert_eq!(ok, images.len(), "the floor verifies every image");
    start.elapsed()
}

/// `count` resources cycling through five pod-carrying kinds; every third container runs as
/// root with a `latest` tag, the others comply with the restricted profile.
fn resources(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let bad = i % 3 == 0;
            let image = if bad {
                "registry.example/team/app:latest".to_string()
            } else {
                format!("registry.example/team/app:1.{}", i % 50)
            };
            let mut pod = fixtures::pod(&format!("r{i}"), &[image]);
            if bad {
                pod["spec"]["containers"][0]["securityContext"] = json!({"runAsUser": 0});
            }
            let meta = json!({"name": format!("r{i}"), "namespace": format!("ns{}", i % 20)});
            let template = json!({"metadata": {"labels": {"app": format!("r{i}")}}, "spec": pod["spec"]});
            let selector = json!({"matchLabels": {"app": format!("r{i}")}});
            match i % 5 {
                0 => {
                    pod["metadata"] = meta;
                    pod
                }
                1 => json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                            "spec": {"selector": selector, "template": template}}),
                2 => json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
                            "spec": {"selector": selector, "serviceName": "s", "template": template}}),
                3 => json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                            "spec": {"template": template}}),
                _ => json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
                            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}}),
            }
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}
