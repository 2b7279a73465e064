//! `make bench` figures for the jobs services (printed, never asserted).
//!
//! Starts a throwaway PostgreSQL (the test harness) and measures, on loopback:
//! - two floors: `SELECT 1` round trips through the same pool, and `GET /livez` (HTTP with no
//!   database), both at the same concurrency;
//! - the API: requests/s, p50 and p99 for `POST /v1/jobs` and `GET /v1/jobs/{id}` with a fixed
//!   number of requests from a fixed number of concurrent clients (keep-alive connections);
//! - the worker: jobs/s for the same batch of fixture jobs with one and with two workers
//!   (each with `--concurrency` slots), in-process.
//!
//! Usage: `cargo run --release -p jobs-worker --example bench -- [REQUESTS] [CONCURRENCY] [JOBS]`
//! (defaults 4000, 16, 2000). Every loop is bounded by its count.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark tool: fail loudly

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use jobs_api::local::LocalApi;
use jobs_common::{
    Metrics, Pool,
    config::ShutdownArgs,
    db, fixtures,
    jobs::store::{self, NewJob},
    testing::postgres::PgServer,
};
use jobs_worker::{Worker, cli::WorkerArgs};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("numeric arguments"));
    let requests = args.next().unwrap_or(4000);
    let concurrency = args.next().unwrap_or(16);
    let jobs = args.next().unwrap_or(2000);
    let pg = PgServer::start().await.unwrap();
    let pool = pg.migrated_pool().await.unwrap();

    let floor = run_load(requests, concurrency, {
        let pool = pool.clone();
        move |_| {
            let pool = pool.clone();
            async move { db::ping(&pool).await.is_ok() }
        }
    })
    .await;
    println!(
        "jobs bench: {requests} requests per case, {concurrency} concurrent clients, {jobs} jobs per worker run"
    );
    report("floor: pool SELECT 1", &floor);

    let LocalApi {
        base,
        admin: admin_base,
        shutdown: stop,
        task: server,
    } = LocalApi::start(pool.clone()).await.unwrap();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();

    let http_floor = run_load(requests, concurrency, {
        let (http, url) = (http.clone(), format!("{admin_base}/livez"));
        move |_| {
            let (http, url) = (http.clone(), url.clone());
            async move { matches!(http.get(url).send().await, Ok(r) if r.status().is_success()) }
        }
    })
    .await;
    report("floor: GET /livez (HTTP, no database)", &http_floor);

    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let create = run_load(requests, concurrency, {
        let (http, base, ids) = (http.clone(), base.clone(), ids.clone());
        move |i| {
            let (http, base, ids) = (http.clone(), base.clone(), ids.clone());
            async move {
                let body = json!({"kind": "summarise", "payload": format!("bench request {i}: the canary recovered")});
                match http.post(format!("{base}/v1/jobs")).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let v: Value = r.json().await.unwrap_or_default();
                        ids.lock().unwrap().push(v["id"].as_str().unwrap_or_default().to_owned());
                        true
                    }
                    _ => false,
                }
            }
        }
    })
    .await;
    report("api: POST /v1/jobs", &create);
    let ids: Arc<Vec<String>> = Arc::new(ids.lock().unwrap().clone());
    let get = run_load(requests, concurrency, {
        let (http, base, ids) = (http.clone(), base.clone(), ids.clone());
        move |i| {
            let (http, base, ids) = (http.clone(), base.clone(), ids.clone());
            async move {
                let url = format!("{base}/v1/jobs/{}", ids[i % ids.len().max(1)]);
                matches!(http.get(url).send().await, Ok(r) if r.status().is_success())
            }
        }
    })
    .await;
    report("api: GET /v1/jobs/{id}", &get);
    stop.cancel();
    server.await.unwrap().unwrap();

    for workers in [1, 2] {
        let client = pg.admin("jobs").await.unwrap();
        client.batch_execute("TRUNCATE jobs CASCADE").await.unwrap();
        enqueue(&pool, jobs).await;
        let started = Instant::now();
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        for w in 0..workers {
            let worker = Arc::new(Worker {
                id: format!("bench-{w}"),
                pool: pg.migrated_pool().await.unwrap(),
                metrics: Arc::new(Metrics::new()),
                args: worker_args(),
            });
            let token = stop.clone();
            tasks.push(tokio::spawn(async move {
                let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let timing = ShutdownArgs {
                    shutdown_grace: Duration::ZERO,
                    drain_timeout: Duration::from_secs(5),
                };
                jobs_worker::run(worker, admin, token, &timing)
                    .await
                    .unwrap();
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let done: i64 = client
                .query_one(
                    "SELECT count(*) FROM jobs WHERE status IN ('succeeded', 'failed')",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if done as usize >= jobs || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = started.elapsed();
        stop.cancel();
        for t in tasks {
            t.await.unwrap();
        }
        let slots = worker_args().concurrency;
        println!(
            "worker: {workers} worker(s) x {slots} slots: {jobs} jobs in {:.2} s = {:.0} jobs/s",
            elapsed.as_secs_f64(),
            jobs as f64 / elapsed.as_secs_f64()
        );
    }
}

fn worker_args() -> WorkerArgs {
    WorkerArgs {
        concurrency: 2,
        poll_interval: Duration::from_millis(20),
        lease: Duration::from_secs(30),
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(60),
        hash_rounds: 10_000,
        worker_id: None,
    }
}

async fn enqueue(pool: &Pool, n: usize) {
    let mut conn = db::get(pool).await.unwrap();
    let tx = conn.transaction().await.unwrap();
    for job in fixtures::jobs(99, n) {
        let new = NewJob {
            kind: job.kind,
            payload: job.payload,
            max_attempts: job.max_attempts,
            idempotency: None,
            trace_context: Default::default(),
        };
        store::create(&tx, &new).await.unwrap();
    }
    tx.commit().await.unwrap();
}

struct Load {
    ok: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// `total` calls of `op` from `concurrency` tasks; each call's latency is recorded.
async fn run_load<F, Fut>(total: usize, concurrency: usize, op: F) -> Load
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (op, next) = (op.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = (0, 0, Vec::new());
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break out;
                }
                let t = Instant::now();
                if op(i).await {
                    out.0 += 1
                } else {
                    out.1 += 1
                }
                out.2.push(t.elapsed());
            }
        }));
    }
    let mut load = Load {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (ok, failed, lat) = t.await.unwrap();
        load.ok += ok;
        load.failed += failed;
        load.latencies.extend(lat);
    }
    load.elapsed = started.elapsed();
    load.latencies.sort();
    load
}

fn report(name: &str, load: &Load) {
    let pct = |p: f64| {
        let i = ((load.latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        load.latencies
            .get(i)
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0
    };
    println!(
        "{name}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms ({} ok, {} failed)",
        load.ok as f64 / load.elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        load.ok,
        load.failed,
    );
}
