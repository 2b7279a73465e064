//! The storm bench itself: setup (registry, proxy, signed and attested images), the floors, the
//! storm against a fresh server, the throttled variant's two passes, and the report.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hyper::body::Bytes;
use portcullis_testkit::Proxy;
use portcullis_verifier::{CacheConfig, PrivateKey, RegistryClient, RegistryConfig, Verifier};

use super::fire::{self, Target};
use super::report::{Summary, cpu_time, met, ms, peak_rss_mib};
use super::{fixtures, procs, workload};

/// How big a storm, and how long the whole run may take.
#[derive(Clone, Copy)]
pub struct Scale {
    pub images: usize,
    pub reviews: usize,
    pub throttled: bool,
    pub cap: Duration,
    /// A pool of HTTP/1.1 connections instead of one HTTP/2 connection (see `fire`).
    pub http1: bool,
}

pub const FULL: Scale = Scale {
    images: 1_000,
    reviews: 10_000,
    throttled: true,
    cap: Duration::from_secs(900),
    http1: false,
};
pub const SMOKE: Scale = Scale {
    images: 100,
    reviews: 1_000,
    throttled: false,
    cap: Duration::from_secs(150),
    http1: false,
};

const RATE: f64 = 500.0;
/// The API server's `?timeout=10s`.
const DEADLINE: Duration = Duration::from_secs(10);
/// Added by the proxy to every registry request.
const LINK: Duration = Duration::from_millis(20);
const SEED: u64 = 19;
/// Throttled variant: requests/s the registry serves, and its `Retry-After` (s).
const THROTTLE: (usize, u64) = (50, 1);
/// Pass 2 starts once the registry has seen no request for this long (at most `QUIET_CAP`).
const QUIET: Duration = Duration::from_secs(3);
const QUIET_CAP: Duration = Duration::from_secs(60);
/// Issue #19's goals.
const GOAL_P99: Duration = Duration::from_millis(150);
const GOAL_REQUESTS_PER_IMAGE: f64 = 4.0;
const GOAL_RSS_MIB: f64 = 128.0;
const GOAL_THROTTLED_RATIO: f64 = 1.5;

/// Runs the bench; `Ok(false)` when the smoke's checks failed.
pub async fn bench(scale: Scale) -> Result<bool> {
    portcullis_webhook::serve::install_crypto_provider();
    let started = Instant::now();
    let say = |what: &str| {
        eprintln!(
            "bench_storm: [{:5.1} s] {what}",
            started.elapsed().as_secs_f64()
        )
    };
    let bin = fixtures::portcullis_bin();
    anyhow::ensure!(
        bin.is_file(),
        "{} not found: cargo build --release -p portcullis-webhook (or set PORTCULLIS_BIN)",
        bin.display()
    );
    let dir = tempfile::Builder::new()
        .prefix("portcullis-storm-")
        .tempdir()?;
    let pki = procs::Pki::write(dir.path());
    let key = PrivateKey::generate();
    let policies = fixtures::policy_dir(dir.path(), &key);

    // === setup: everything is pushed, signed and attested through the proxy (no delay yet), so
    // the references name the registry the server reaches through the link ===
    say(&format!(
        "starting docker-registry and the proxy; publishing {} signed + attested images",
        scale.images
    ));
    let (registry, reg, _direct) = fixtures::registry().await;
    let proxy = Proxy::start(reg.parse().context("registry address")?).await?;
    let host = proxy.addr();
    let client = RegistryClient::new(RegistryConfig {
        insecure: vec![host.clone()],
        ..RegistryConfig::default()
    })?;
    let t = Instant::now();
    let images = fixtures::publish_tagged(&client, &host, "storm/app", scale.images, &key).await;
    let floor_images = fixtures::publish_tagged(&client, &host, "storm/floor", 2, &key).await;
    let setup_time = t.elapsed();
    let plan = workload::plan(&images, scale.reviews, SEED)?;
    let distinct = {
        let mut seen = vec![false; images.len()];
        plan.iter().for_each(|p| seen[p.image] = true);
        seen.iter().filter(|s| **s).count()
    };
    let bodies: Vec<Bytes> = plan.into_iter().map(|p| p.body).collect();
    proxy.set_delay(LINK);

    // === floors: one cold verification through the same link (the first of two images, which
    // also makes the per-registry requests the server makes once, is not counted) ===
    say("floor: one cold verification through the link");
    let verifier = Verifier::new(client.clone(), CacheConfig::default());
    let requirement = fixtures::requirement(&key);
    let mut floor = (Duration::ZERO, 0, 0);
    for image in &floor_images {
        proxy.clear_requests();
        let t = Instant::now();
        let verdict = verifier
            .verify(
                &image.parse()?,
                &requirement,
                tokio::time::Instant::now() + DEADLINE,
            )
            .await;
        if let Err(e) = verdict.as_ref() {
            anyhow::bail!("the floor image {image} does not verify: {e}");
        }
        floor = (t.elapsed(), proxy.requests().len(), proxy.round_trips());
    }
    let (floor_latency, needed_per_image, floor_trips) = floor;

    // === the storm ===
    say(&format!(
        "storm: {} reviews at {RATE}/s over {distinct} images",
        bodies.len()
    ));
    let setup = Setup {
        bin: &bin,
        dir: dir.path(),
        pki: &pki,
        policies: &policies,
        proxy: &proxy,
        http1: scale.http1,
    };
    let storm = pass(&setup, &bodies).await?;

    // === throttled ===
    let throttled = if scale.throttled {
        say("throttled: a fresh server, 429 + Retry-After above 50 requests/s, pass 1");
        Some(throttled_passes(&setup, &bodies, &say).await?)
    } else {
        None
    };
    say("stopping the proxy and docker-registry");
    drop(proxy);
    drop(registry);

    // === report ===
    let needed = needed_per_image * distinct;
    let s = &storm.summary;
    let per_image = storm.requests as f64 / distinct.max(1) as f64;
    let cpu_ms = storm.cpu.as_secs_f64() * 1000.0 / s.sent.max(1) as f64;
    println!(
        "== deploy storm: one portcullis serve replica, {} reviews (Pods, Deployments, Jobs) over {distinct} signed + attested \
         images (Zipf, seed {SEED}), open loop at {RATE:.0}/s over TLS ({}), ?timeout=10s, registry behind a {} link; \
         {} cores shared with other work, load average {} at the end ==",
        s.sent,
        if scale.http1 {
            "a pool of HTTP/1.1 connections"
        } else {
            "HTTP/2, a new connection per 200 open streams, as client-go"
        },
        ms(LINK),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    println!(
        "setup: {} images published in {:.1} s; {} TLS connections opened by the load generator",
        scale.images + floor_images.len(),
        setup_time.as_secs_f64(),
        storm.connections
    );
    println!(
        "latency      {}   floor: one cold verification {} ({floor_trips} round trips)   goal p99 <= {}: {}",
        s.latencies(),
        ms(floor_latency),
        ms(GOAL_P99),
        met(s.p(0.99) <= GOAL_P99)
    );
    println!(
        "deadline     {} of {} past the 10 s deadline ({} late, {} broken)   floor 0   goal 0: {}",
        s.past_deadline(),
        s.sent,
        s.late,
        s.broken,
        met(s.past_deadline() == 0)
    );
    println!(
        "denials      {} wrongful (every image is correctly signed)   floor 0   goal 0: {}{}",
        s.denied,
        met(s.denied == 0),
        s.examples()
    );
    println!(
        "registry     {per_image:.2} requests per distinct image ({} in all)   floor: {needed_per_image} (one cold \
         verification)   goal <= {GOAL_REQUESTS_PER_IMAGE}: {}",
        storm.requests,
        met(per_image <= GOAL_REQUESTS_PER_IMAGE)
    );
    println!(
        "memory       peak RSS {:.1} MiB (VmHWM, from startup)   goal <= {GOAL_RSS_MIB} MiB: {}",
        storm.peak_rss_mib,
        met(storm.peak_rss_mib <= GOAL_RSS_MIB)
    );
    println!("cpu          {cpu_ms:.2} CPU-ms per review (utime + stime over the storm)");
    if let Some(t) = &throttled {
        t.print(needed);
    }
    if scale.throttled {
        return Ok(true);
    }
    // The smoke's checks, one line each for pipelines/test.sh.
    let checks = [
        (
            "past-deadline",
            s.past_deadline() == 0,
            format!(
                "{} of {} reviews past the 10 s deadline",
                s.past_deadline(),
                s.sent
            ),
        ),
        (
            "wrongful-denials",
            s.denied == 0 && s.sent == bodies.len(),
            format!("{} of {} reviews of signed images denied", s.denied, s.sent),
        ),
    ];
    for (name, ok, what) in &checks {
        println!("{} storm/{name}: {what}", if *ok { "PASS" } else { "FAIL" });
    }
    Ok(checks.iter().all(|(_, ok, _)| *ok))
}

/// One storm against a fresh server, with what the server and the registry did.
struct Pass {
    summary: Summary,
    requests: usize,
    cpu: Duration,
    peak_rss_mib: f64,
    connections: usize,
}

/// What every pass starts a server with and sends.
struct Setup<'a> {
    bin: &'a std::path::Path,
    dir: &'a std::path::Path,
    pki: &'a procs::Pki,
    policies: &'a std::path::Path,
    proxy: &'a Proxy,
    http1: bool,
}

impl Setup<'_> {
    /// A fresh `portcullis serve` (cold cache) reaching the registry through the proxy.
    async fn server(&self) -> procs::Portcullis {
        let host = self.proxy.addr();
        procs::start_portcullis(
            self.bin,
            self.dir,
            self.pki,
            self.policies,
            &["--allow-http-registry", &host],
        )
        .await
    }
}

async fn pass(setup: &Setup<'_>, bodies: &[Bytes]) -> Result<Pass> {
    let (proxy, pki) = (setup.proxy, setup.pki);
    let mut server = setup.server().await;
    let target = Target::new(server.admission, &pki.ca_pem, setup.http1)?;
    let pid = server.proc.pid();
    proxy.clear_requests();
    let cpu_before = cpu_time(pid)?;
    let outcomes = fire::storm(
        &target,
        bodies,
        RATE,
        DEADLINE,
        DEADLINE * 3 + secs(bodies.len() as f64 / RATE),
    )
    .await?;
    let pass = Pass {
        summary: Summary::of(&outcomes),
        requests: proxy.requests().len(),
        cpu: cpu_time(pid)?.saturating_sub(cpu_before),
        peak_rss_mib: peak_rss_mib(pid)?,
        connections: target.opened(),
    };
    server.proc.check_alive();
    Ok(pass)
}

/// The throttled variant's two passes against one fresh server.
struct Throttled {
    first: Summary,
    second: Summary,
    /// Registry requests during pass 1 and until the registry went quiet, then during pass 2.
    requests: (usize, usize),
    refused: usize,
    quiet_after: Duration,
}

async fn throttled_passes(
    setup: &Setup<'_>,
    bodies: &[Bytes],
    say: &impl Fn(&str),
) -> Result<Throttled> {
    let (proxy, pki, http1) = (setup.proxy, setup.pki, setup.http1);
    let mut server = setup.server().await;
    let cap = DEADLINE * 3 + secs(bodies.len() as f64 / RATE);
    proxy.clear_requests();
    proxy.throttle_above(Some(THROTTLE));
    let target = Target::new(server.admission, &pki.ca_pem, http1)?;
    let first = Summary::of(&fire::storm(&target, bodies, RATE, DEADLINE, cap).await?);
    target.close_idle();
    say("throttled: waiting for the registry to go quiet");
    let t = Instant::now();
    let mut seen = (proxy.requests().len(), Instant::now());
    while t.elapsed() < QUIET_CAP && seen.1.elapsed() < QUIET {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = proxy.requests().len();
        if now != seen.0 {
            seen = (now, Instant::now());
        }
    }
    let quiet_after = t.elapsed();
    let after_first = proxy.requests().len();
    say("throttled: pass 2");
    let target = Target::new(server.admission, &pki.ca_pem, http1)?;
    let second = Summary::of(&fire::storm(&target, bodies, RATE, DEADLINE, cap).await?);
    let total = proxy.requests().len();
    let refused = proxy.throttled();
    proxy.throttle_above(None);
    server.proc.check_alive();
    Ok(Throttled {
        first,
        second,
        requests: (after_first, total - after_first),
        refused,
        quiet_after,
    })
}

impl Throttled {
    fn print(&self, needed: usize) {
        println!(
            "== throttled: a fresh server, the registry answering 429 + Retry-After: {} above {} requests/s; \
             the same storm twice, pass 2 once the registry had been quiet for {} s ({:.1} s after pass 1) ==",
            THROTTLE.1,
            THROTTLE.0,
            QUIET.as_secs(),
            self.quiet_after.as_secs_f64()
        );
        for (name, s, requests) in [
            ("pass 1", &self.first, self.requests.0),
            ("pass 2", &self.second, self.requests.1),
        ] {
            println!(
                "{name}       {} of {} past the deadline (goal 0: {}); {} denied, {} naming the rate limit; {requests} \
                 registry requests{}; {}",
                s.past_deadline(),
                s.sent,
                met(s.past_deadline() == 0),
                s.denied,
                s.denied_rate_limit,
                if name == "pass 1" {
                    " (through the quiet wait)"
                } else {
                    ""
                },
                s.latencies()
            );
            if !s.examples().is_empty() {
                println!("{}", s.examples().trim_start_matches('\n'));
            }
        }
        let total = self.requests.0 + self.requests.1;
        let ratio = total as f64 / needed.max(1) as f64;
        println!(
            "registry     {total} requests in all ({} refused with 429) for the {needed} needed (distinct images x one \
             cold verification's requests): {ratio:.2}x   goal <= {GOAL_THROTTLED_RATIO}x: {}; pass 2 admits everything: {}",
            self.refused,
            met(ratio <= GOAL_THROTTLED_RATIO),
            met(self.second.allowed == self.second.sent)
        );
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// The 1-minute load average (other work on the machine skews every figure).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
