//! `make bench` part: admission latency, throughput and memory of the real `portcullis serve`
//! release binary, printed beside a floor measured in the same run on the same machine.
//!
//! Scenarios (each one line: fixed rate and closed loop, p50/p99/throughput):
//! - (a) floor: the webhook's own TLS listener in front of an axum handler answering a fixed
//!   "allowed" review (this example re-executed as `echo-server`), same certificates, same load;
//! - (b) guardrails: the shipped restricted + resource policies, a compliant pod whose image no
//!   image policy matches;
//! - (c) guardrails + signature: the same plus a signed and attested image (by digest) under a
//!   `ClusterImagePolicy`, verified once before measuring (warm cache);
//! - (d) cold: pods of 3 images never seen before (by tag), signed and attested in a loopback
//!   `docker-registry`, one review at a time;
//! - (e) memory: `VmRSS` of the server after startup and after 10,000 distinct images verified
//!   and cached. Those are unsigned digests (`repo@sha256:<hex>`, never pushed), so the verdicts
//!   are negative (no signature), kept by `--cache-negative-ttl 10m`: signing and attesting
//!   10,000 digests through the registry takes longer than the whole bench may.
//!
//! Targets printed beside the figures: (c) p99 ≤ 2 ms at ≥ 1,000 reviews/s and ≤ 1.5× the
//! floor's p99 at the same rate; (d) p99 ≤ 50 ms; (e) ≤ 64 MiB. Nothing is asserted. Every loop
//! is bounded by a count and a time cap; every process started is stopped by PID on every path.
//!
//! Needs `docker-registry` (installed by `make bootstrap`) and the release binary
//! (`cargo build --release -p portcullis-webhook`; `PORTCULLIS_BIN` overrides its path).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Split by concern; the directory holds no `main.rs`, so Cargo does not take it for an example.
#[path = "bench_admission/fixtures.rs"]
mod fixtures;
#[path = "bench_admission/load.rs"]
mod load;
#[path = "bench_admission/procs.rs"]
mod procs;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use portcullis_testkit::push_image;
use portcullis_verifier::PrivateKey;
use tokio::signal::unix::{SignalKind, signal};

use load::{Load, Run, Target};
use procs::{Pki, http_get, metric_sum};

/// Connections of the load generator (the API server keeps a pool of keep-alive connections).
const CONNS: usize = 16;
/// The rate the p99 target is stated at.
const RATE: f64 = 1_000.0;
const RATE_REQUESTS: usize = 5_000;
const RATE_CAP: Duration = Duration::from_secs(8);
const CLOSED_REQUESTS: usize = 40_000;
const CLOSED_CAP: Duration = Duration::from_secs(6);
const WARMUP_REQUESTS: usize = 1_000;
/// (d): pods of 3 never-seen images.
const COLD_PODS: usize = 100;
const COLD_CAP: Duration = Duration::from_secs(60);
/// (d)'s floor: pods of 3 other never-seen images verified without the webhook.
const COLD_FLOOR_PODS: usize = 30;
/// (e): distinct images verified and cached before reading the RSS, in pods of this many.
const FLEET: usize = 10_000;
const FLEET_PER_POD: usize = 10;
const FLEET_CONNS: usize = 4;
const FLEET_CAP: Duration = Duration::from_secs(90);
/// Room for every verdict of the run ((c) + (d) + (e)), so none of the 10,000 is evicted.
const FLEET_CACHE_SIZE: u64 = 20_000;
/// (e): pods sent a second time to show their verdicts come from the cache.
const RECHECK_PODS: usize = 100;
const TARGET_P99: Duration = Duration::from_millis(2);
const TARGET_RATIO: f64 = 1.5;
const TARGET_COLD_P99: Duration = Duration::from_millis(50);
const TARGET_RSS_MIB: f64 = 64.0;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "echo-server") && args.len() == 4 {
        return procs::echo_main(Path::new(&args[2]), Path::new(&args[3]));
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // On SIGINT/SIGTERM the bench future is dropped, which stops every process it started.
        let mut sigterm = signal(SignalKind::terminate()).unwrap();
        tokio::select! {
            () = bench() => ExitCode::SUCCESS,
            _ = tokio::signal::ctrl_c() => interrupted("SIGINT"),
            _ = sigterm.recv() => interrupted("SIGTERM"),
        }
    })
}

fn interrupted(signal: &str) -> ExitCode {
    eprintln!("bench_admission: {signal}: stopping every process it started");
    ExitCode::from(130)
}

async fn bench() {
    portcullis_webhook::serve::install_crypto_provider();
    let progress = Progress(Instant::now());
    if cfg!(debug_assertions) {
        println!("warning: debug build of the load generator; run with --release");
    }
    let bin = fixtures::portcullis_bin();
    assert!(
        bin.is_file(),
        "{} not found: cargo build --release -p portcullis-webhook (or set PORTCULLIS_BIN)",
        bin.display()
    );
    let load_before = loadavg();
    let dir = tempfile::Builder::new()
        .prefix("portcullis-bench-")
        .tempdir()
        .unwrap();
    let pki = Pki::write(dir.path());
    let key = PrivateKey::generate();
    let policies = fixtures::policy_dir(dir.path(), &key);

    // === setup: registry, signed images ===
    progress.say("starting docker-registry; pushing, signing and attesting images");
    let (registry, reg, client) = fixtures::registry().await;
    let t = Instant::now();
    let warm_digest = push_image(&reg, "bench/warm", "v1", b"warm").await.unwrap();
    let warm = format!("{reg}/bench/warm@{warm_digest}");
    fixtures::sign_and_attest(&client, &warm.parse().unwrap(), &key).await;
    let cold = fixtures::publish_tagged(&client, &reg, "bench/cold", COLD_PODS * 3, &key).await;
    let cold_floor_images =
        fixtures::publish_tagged(&client, &reg, "bench/direct", COLD_FLOOR_PODS * 3, &key).await;
    let setup = t.elapsed();
    let signed_images = (COLD_PODS + COLD_FLOOR_PODS) * 3 + 1;
    // (e): never pushed, never signed (signing 10,000 takes minutes here; see the report).
    let fleet = fixtures::digest_refs(&reg, "bench/fleet", "fleet", FLEET);

    let outside = "registry.example/team/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let guard_body = fixtures::review("bench-b", &fixtures::pod("guarded", &[outside.into()]));
    let warm_body = fixtures::review(
        "bench-c",
        &fixtures::pod("signed", std::slice::from_ref(&warm)),
    );

    // === (a) the floor ===
    progress.say("(a) floor");
    let (echo, echo_addr) = procs::start_echo(&pki);
    let floor = measure(&Target::new(echo_addr, &pki.ca_pem), &guard_body).await;
    drop(echo);

    // === portcullis serve ===
    let mut server = procs::start_portcullis(
        &bin,
        dir.path(),
        &pki,
        &policies,
        &[
            "--allow-http-registry",
            &reg,
            "--cache-negative-ttl",
            "10m",
            "--cache-size",
            &FLEET_CACHE_SIZE.to_string(),
        ],
    )
    .await;
    let rss_start = server.proc.memory_kib();
    let target = Target::new(server.admission, &pki.ca_pem);

    progress.say("(b) guardrails");
    let guard = measure(&target, &guard_body).await;
    progress.say("(c) guardrails + signature, warm");
    let once = load::run(
        &target,
        Arc::new(vec![warm_body.clone()]),
        Some(true),
        single(),
    )
    .await;
    if let Some(problem) = &once.first_unexpected {
        panic!("the signed image is not admitted: {problem}");
    }
    let signed = measure(&target, &warm_body).await;

    progress.say("(d) never-seen images");
    let requirement = fixtures::requirement(&key);
    let cold_floor = fixtures::verify_directly(&client, &cold_floor_images, 3, &requirement).await;
    let cold_bodies = pods("cold", &cold, 3);
    let before = registry_requests(&server).await;
    let cold_run = load::run(
        &target,
        Arc::new(cold_bodies),
        Some(true),
        Load {
            conns: 1,
            max_requests: COLD_PODS,
            cap: COLD_CAP,
            rate: None,
        },
    )
    .await;
    let cold_trips = (registry_requests(&server).await - before) / cold_run.n().max(1) as f64;

    progress.say("(e) 10,000 distinct images into the cache");
    let fleet_bodies = Arc::new(pods("fleet", &fleet, FLEET_PER_POD));
    let fleet_run = load::run(
        &target,
        fleet_bodies.clone(),
        Some(false),
        Load {
            conns: FLEET_CONNS,
            max_requests: FLEET / FLEET_PER_POD,
            cap: FLEET_CAP,
            rate: None,
        },
    )
    .await;
    server.proc.check_alive();
    progress.say("(e) reading RSS, sending 100 pods again");
    let rss_fleet = server.proc.memory_kib();
    // Proof that the verdicts are cached: sending some pods again reaches no registry.
    let before = registry_requests(&server).await;
    let again = load::run(
        &target,
        fleet_bodies,
        Some(false),
        Load {
            conns: FLEET_CONNS,
            max_requests: RECHECK_PODS.min(fleet_run.n()),
            cap: Duration::from_secs(10),
            rate: None,
        },
    )
    .await;
    let again_trips = registry_requests(&server).await - before;
    server.proc.check_alive();
    progress.say("stopping portcullis serve and docker-registry");
    drop(server);
    drop(registry);
    let load_after = loadavg();

    // === report ===
    println!(
        "== admission webhook: portcullis serve (release) over TLS on loopback, {CONNS} keep-alive HTTP/1.1 \
         connections, the load generator on the same {} cores; load average {load_before} before, {load_after} after ==",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "setup: {signed_images} images pushed, signed and attested in {:.1} s; loopback docker-registry storage under {}; \
         server logs JSON at info (as deployed) to a file",
        setup.as_secs_f64(),
        std::env::temp_dir().display()
    );
    println!(
        "{:<48} {:<60} closed loop (max throughput)",
        "scenario", "fixed 1,000 reviews/s"
    );
    show("(a) floor: same TLS listener, fixed answer", &floor);
    show("(b) guardrails (restricted + resources)", &guard);
    show("(c) guardrails + signature, warm cache", &signed);
    report_unexpected("(c) first verification", &once);
    println!(
        "{:<48} p50 {} p99 {} max {} (n={}, one review at a time; {cold_trips:.1} registry requests per pod)",
        "(d) pod of 3 never-seen images (by tag)",
        ms(cold_run.p(0.5)),
        ms(cold_run.p(0.99)),
        ms(cold_run.p(1.0)),
        cold_run.n()
    );
    println!(
        "{:<48} p50 {} p99 {} max {} (n={}, same verifications straight from the verifier crate, no webhook)",
        "(d) floor: the registry round trips alone",
        ms(load::percentile(&cold_floor, 0.5)),
        ms(load::percentile(&cold_floor, 0.99)),
        ms(load::percentile(&cold_floor, 1.0)),
        cold_floor.len()
    );
    report_unexpected("(d)", &cold_run);
    let (floor_p99, signed_p99) = (floor.0.p(0.99), signed.0.p(0.99));
    let ratio = signed_p99.as_secs_f64() / floor_p99.as_secs_f64().max(1e-9);
    println!(
        "targets: (c) p99 at 1,000/s {} (<= 2 ms: {}); (c) sustained {:.0}/s, max {:.0}/s (>= 1,000/s: {}); \
         (c)/(a) p99 at 1,000/s {ratio:.2}x (<= {TARGET_RATIO}x: {}); (d) p99 {} (<= 50 ms: {})",
        ms(signed_p99),
        met(signed_p99 <= TARGET_P99),
        signed.0.throughput(),
        signed.1.throughput(),
        met(signed.0.throughput() >= 0.99 * RATE && signed.1.throughput() >= RATE),
        met(ratio <= TARGET_RATIO),
        ms(cold_run.p(0.99)),
        met(cold_run.p(0.99) <= TARGET_COLD_P99),
    );
    let images = fleet_run.n() * FLEET_PER_POD;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "(e) RSS {:.1} MiB after startup; {:.1} MiB (peak {:.1} MiB) with {images} distinct images cached \
         (<= {TARGET_RSS_MIB} MiB: {})",
        mib(rss_start.0),
        mib(rss_fleet.0),
        mib(rss_fleet.1),
        met(mib(rss_fleet.0) <= TARGET_RSS_MIB),
    );
    println!(
        "    measured with NEGATIVE verdicts: {} pods of {FLEET_PER_POD} unsigned `repo@sha256:<hex>` digests in {:.1} s \
         -> NoSignature, kept by --cache-negative-ttl 10m, --cache-size {FLEET_CACHE_SIZE}; {} pods sent again made \
         {again_trips:.0} registry requests. Signed verdicts were not measured: setup ran at {:.1} images/s, \
         10,000 would take ~{:.0} s",
        fleet_run.n(),
        fleet_run.elapsed.as_secs_f64(),
        again.n(),
        signed_images as f64 / setup.as_secs_f64(),
        FLEET as f64 * setup.as_secs_f64() / signed_images as f64,
    );
    report_unexpected("(e)", &fleet_run);
    report_unexpected("(e) again", &again);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if load_before.parse::<f64>().is_ok_and(|l| l > cores as f64) {
        println!(
            "note: load average {load_before} on {cores} cores before the run: other work competed for the CPU, \
             so latencies (the floor's too) are inflated"
        );
    }
    progress.say("done");
}

/// Progress on stderr, with the time since the start.
struct Progress(Instant);

impl Progress {
    fn say(&self, what: &str) {
        eprintln!(
            "bench_admission: [{:5.1} s] {what}",
            self.0.elapsed().as_secs_f64()
        );
    }
}

/// The 1-minute load average (other work on the machine skews every figure).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Reviews of compliant pods of `per_pod` of `images` each.
fn pods(name: &str, images: &[String], per_pod: usize) -> Vec<Bytes> {
    images
        .chunks(per_pod)
        .enumerate()
        .map(|(i, chunk)| {
            fixtures::review(
                &format!("bench-{name}-{i}"),
                &fixtures::pod(&format!("{name}-{i}"), chunk),
            )
        })
        .collect()
}

/// One request on one connection (first verification of (c)).
fn single() -> Load {
    Load {
        conns: 1,
        max_requests: 1,
        cap: Duration::from_secs(30),
        rate: None,
    }
}

/// Warm-up, then fixed rate, then closed loop, all posting `body` (answered "allowed").
async fn measure(target: &Target, body: &Bytes) -> (Run, Run) {
    let bodies = Arc::new(vec![body.clone()]);
    let closed = |max_requests, cap| Load {
        conns: CONNS,
        max_requests,
        cap,
        rate: None,
    };
    let warmup = load::run(
        target,
        bodies.clone(),
        Some(true),
        closed(WARMUP_REQUESTS, Duration::from_secs(10)),
    )
    .await;
    if let Some(problem) = &warmup.first_unexpected {
        panic!("unexpected answer during warm-up: {problem}");
    }
    let fixed = Load {
        conns: CONNS,
        max_requests: RATE_REQUESTS,
        cap: RATE_CAP,
        rate: Some(RATE),
    };
    let at_rate = load::run(target, bodies.clone(), Some(true), fixed).await;
    let max = load::run(
        target,
        bodies,
        Some(true),
        closed(CLOSED_REQUESTS, CLOSED_CAP),
    )
    .await;
    (at_rate, max)
}

async fn registry_requests(server: &procs::Portcullis) -> f64 {
    let metrics = http_get(server.admin, "/metrics").await.unwrap().1;
    metric_sum(&metrics, "portcullis_registry_requests_total", "")
}

fn show(label: &str, (at_rate, max): &(Run, Run)) {
    let fixed = format!(
        "p50 {} p99 {} (n={}, {:.0}/s; p99 from release {})",
        ms(at_rate.p(0.5)),
        ms(at_rate.p(0.99)),
        at_rate.n(),
        at_rate.throughput(),
        ms(at_rate.p_release(0.99)),
    );
    println!(
        "{label:<48} {fixed:<60} {:>5.0}/s p50 {} p99 {} (n={})",
        max.throughput(),
        ms(max.p(0.5)),
        ms(max.p(0.99)),
        max.n()
    );
    report_unexpected(label, at_rate);
    report_unexpected(label, max);
}

fn report_unexpected(label: &str, run: &Run) {
    if let Some(first) = &run.first_unexpected {
        println!(
            "  !! {label}: {} unexpected answers; first: {first}",
            run.unexpected
        );
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}
