//! `make bench` part: admission under a deploy storm. One `portcullis serve` replica (the release
//! binary) with the shipped restricted policy and a `ClusterImagePolicy` requiring the bench key's
//! signature and a SLSA provenance attestation; 10,000 pod-carrying CREATE reviews (Pods,
//! Deployments, Jobs) over 1,000 signed and attested images with Zipf-like popularity, sent open
//! loop at 500/s over TLS with `?timeout=10s`; the loopback `docker-registry` behind the testkit's
//! fault proxy adding 20 ms to every request.
//!
//! Figures, each beside the floor measured in the same run and the goal of issue #19: latency
//! p50/p95/p99/max (floor: one cold verification through the same link, straight from the
//! verifier crate), reviews past their deadline, wrongful denials (every image is correctly
//! signed, so any denial is one), registry requests per distinct image counted at the proxy
//! (floor: the requests that one cold verification makes), peak RSS (`VmHWM`) and CPU per review
//! of the server process.
//!
//! Throttled variant: a fresh server (cold cache), the proxy answering `429` with
//! `Retry-After: 1` above 50 requests/s; the storm twice (pass 2 after the registry has seen no
//! request for a few seconds, like controllers retrying). Per pass: past deadline, denied (and
//! how many name the rate limit), registry requests against the number needed.
//!
//! Reviews go over HTTP/2 as client-go sends them (200 streams a connection); `--http1` uses a
//! pool of HTTP/1.1 keep-alive connections instead (one per review in flight).
//!
//! `--smoke` (CI, `pipelines/test.sh`): 1,000 reviews over 100 images, no throttled variant;
//! prints `PASS|FAIL storm/…` lines and exits non-zero on any review past its deadline or any
//! wrongful denial. Nothing asserts a time. Every loop is bounded by a count and the whole run by
//! a time cap; every process started (registry, serve) is stopped by PID when dropped, the
//! proxy with it.
//!
//! Needs `docker-registry` (installed by `make bootstrap`) and the `portcullis` binary next to
//! this example's directory (`PORTCULLIS_BIN` overrides its path).

// Shared with bench_admission and bench_audit; they panic on setup failures (bench wiring).
#[allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[path = "bench_admission/fixtures.rs"]
mod fixtures;
#[allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[path = "bench_admission/procs.rs"]
mod procs;

#[path = "bench_storm/fire.rs"]
mod fire;
#[path = "bench_storm/report.rs"]
mod report;
#[path = "bench_storm/run.rs"]
mod run;
#[path = "bench_storm/workload.rs"]
mod workload;

use std::process::ExitCode;

use tokio::signal::unix::{SignalKind, signal};

fn main() -> ExitCode {
    let (mut smoke, mut http1) = (false, false);
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--http1" => http1 = true,
            other => {
                eprintln!(
                    "bench_storm: unknown argument {other:?}; usage: bench_storm [--smoke] [--http1]"
                );
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench_storm: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let mut sigterm = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bench_storm: SIGTERM handler: {e}");
                return ExitCode::FAILURE;
            }
        };
        // On a signal or the cap the bench future is dropped, which stops every process it started.
        let scale = run::Scale {
            http1,
            ..if smoke { run::SMOKE } else { run::FULL }
        };
        tokio::select! {
            outcome = tokio::time::timeout(scale.cap, run::bench(scale)) => match outcome {
                Ok(Ok(true)) => ExitCode::SUCCESS,
                Ok(Ok(false)) => ExitCode::FAILURE,
                Ok(Err(e)) => {
                    eprintln!("bench_storm: {e:#}");
                    ExitCode::FAILURE
                }
                Err(_) => {
                    eprintln!("bench_storm: stopped at its time cap of {:?}", scale.cap);
                    if smoke { println!("FAIL storm/smoke: did not finish within {:?}", scale.cap) }
                    ExitCode::FAILURE
                }
            },
            _ = tokio::signal::ctrl_c() => ExitCode::from(130),
            _ = sigterm.recv() => ExitCode::from(143),
        }
    })
}
