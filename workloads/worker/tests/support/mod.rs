//! Shared by the worker integration tests: a real PostgreSQL, the API in-process, worker
//! processes (the real binary) started with their own environment and stopped by PID, and SQL
//! helpers over the job table and attempt log. Every wait is bounded.

// Test support: failing loudly is the point.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{collections::HashMap, path::PathBuf, process::Command, time::Duration};

use jobs_api::local::LocalApi;
use jobs_common::{
    Pool,
    testing::{eventually, free_port, postgres::PgServer, process::Proc},
};
use rustix::process::Signal;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct Env {
    pub pg: PgServer,
    pub pool: Pool,
    pub logs: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl Env {
    /// Panics, naming the fix, when PostgreSQL is not installed.
    pub async fn start() -> Env {
        let pg = PgServer::start().await.expect("starting PostgreSQL");
        let pool = pg.migrated_pool().await.unwrap();
        Env {
            pg,
            pool,
            logs: tempfile::tempdir().unwrap(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// The API on loopback ports, in this process.
    pub async fn api(&self) -> Api {
        let local = LocalApi::start(self.pg.migrated_pool().await.unwrap())
            .await
            .unwrap();
        Api {
            base: local.base,
            admin: local.admin,
            shutdown: local.shutdown,
            task: Some(local.task),
        }
    }

    /// A `jobs-worker` process; `extra` overrides the defaults (fast polling, no grace).
    pub fn worker(&self, name: &str, extra: &[(&str, &str)]) -> Worker {
        let port = free_port().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_jobs-worker"));
        cmd.env_clear();
        cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
        let admin = format!("127.0.0.1:{port}");
        let defaults = [
            ("APP_DATABASE_URL", self.pg.database_url()),
            (
                "APP_DATABASE_PASSWORD_FILE",
                self.pg.password_file().display().to_string(),
            ),
            ("APP_ADMIN_LISTEN", admin.clone()),
            ("APP_WORKER_ID", name.to_owned()),
            ("APP_WORKER_CONCURRENCY", "2".into()),
            ("APP_WORKER_POLL_INTERVAL", "20ms".into()),
            ("APP_WORKER_HASH_ROUNDS", "1000".into()),
            ("APP_SHUTDOWN_GRACE", "0s".into()),
            ("APP_DRAIN_TIMEOUT", "20s".into()),
            ("APP_LOG", "info".into()),
        ];
        for (k, v) in defaults {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        // JOBS_TEST_LOGS=DIR keeps the worker logs there for a post-mortem.
        let dir = std::env::var_os("JOBS_TEST_LOGS")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.logs.path().to_owned());
        let log = dir.join(format!("{name}-{}.log", self.pg.port()));
        Worker {
            proc: Proc::spawn(name, cmd, &log).unwrap(),
            admin: format!("http://{admin}"),
            log,
        }
    }

    /// Creates jobs through the API, 8 requests at a time; returns their ids in order.
    pub async fn enqueue(&self, api: &Api, bodies: Vec<Value>) -> Vec<String> {
        let mut ids = vec![String::new(); bodies.len()];
        let indexed: Vec<(usize, Value)> = bodies.into_iter().enumerate().collect();
        for chunk in indexed.chunks(8) {
            let mut tasks = Vec::new();
            for (i, body) in chunk.iter().cloned() {
                let (http, url) = (self.http.clone(), format!("{}/v1/jobs", api.base));
                tasks.push(tokio::spawn(async move {
                    let resp = http.post(url).json(&body).send().await.unwrap();
                    assert_eq!(resp.status().as_u16(), 201);
                    let job: Value = resp.json().await.unwrap();
                    (i, job["id"].as_str().unwrap().to_owned())
                }));
            }
            for t in tasks {
                let (i, id) = t.await.unwrap();
                ids[i] = id;
            }
        }
        ids
    }

    /// Jobs per status.
    pub async fn counts(&self) -> HashMap<String, i64> {
        let client = self.pg.admin("jobs").await.unwrap();
        let rows = client
            .query("SELECT status, count(*) FROM jobs GROUP BY status", &[])
            .await
            .unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    }

    /// Waits until `n` jobs succeeded and none is queued or running.
    pub async fn wait_all_done(&self, n: i64, limit: Duration) {
        let result = eventually("all jobs finished", limit, || async {
            let c = self.counts().await;
            let done =
                c.get("succeeded").copied().unwrap_or(0) + c.get("failed").copied().unwrap_or(0);
            (done == n).then_some(())
        })
        .await;
        if let Err(e) = result {
            panic!("{e}: {:?}", self.counts().await);
        }
    }

    /// Jobs whose number of successful attempts is not exactly one, or that are not succeeded.
    pub async fn exactly_once_violations(&self) -> Vec<String> {
        let client = self.pg.admin("jobs").await.unwrap();
        let rows = client
            .query(
                "SELECT j.id::text, j.status, count(a.id) FILTER (WHERE a.outcome = 'succeeded')
                 FROM jobs j LEFT JOIN job_attempts a ON a.job_id = j.id
                 GROUP BY j.id, j.status
                 HAVING j.status <> 'succeeded' OR j.result IS NULL
                     OR count(a.id) FILTER (WHERE a.outcome = 'succeeded') <> 1",
                &[],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                format!(
                    "{} {} x{}",
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    r.get::<_, i64>(2)
                )
            })
            .collect()
    }

    /// Attempt outcomes (NULL = open) by worker.
    pub async fn attempts_by(&self, worker: &str) -> HashMap<String, i64> {
        let client = self.pg.admin("jobs").await.unwrap();
        let rows = client
            .query(
                "SELECT coalesce(outcome, 'open'), count(*) FROM job_attempts WHERE worker = $1 GROUP BY 1",
                &[&worker],
            )
            .await
            .unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    }

    pub async fn status(&self, url: &str) -> Option<u16> {
        self.http
            .get(url)
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }
}

pub struct Api {
    pub base: String,
    pub admin: String,
    pub shutdown: CancellationToken,
    pub task: Option<JoinHandle<anyhow::Result<()>>>,
}

pub struct Worker {
    pub proc: Proc,
    pub admin: String,
    pub log: PathBuf,
}

impl Worker {
    /// Waits for `/readyz` to answer 200.
    pub async fn ready(&mut self, http: &reqwest::Client) {
        let url = format!("{}/readyz", self.admin);
        let r = eventually("worker ready", Duration::from_secs(30), || async {
            http.get(&url)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        })
        .await;
        if let Err(e) = r {
            panic!("{e}\n{}", self.proc.log_tail(30));
        }
    }

    /// Sends SIGTERM and asserts a clean exit (status 0) within 30 s; the log tail otherwise.
    pub fn terminate(&mut self) {
        let status = self
            .proc
            .stop(Signal::TERM, Duration::from_secs(30))
            .unwrap();
        assert!(
            status.success(),
            "worker ({}) exited with {status}:\n{}",
            self.log.display(),
            self.proc.log_tail(20)
        );
    }

    /// The value of one sample of the worker's `/metrics`.
    pub async fn metric(&self, http: &reqwest::Client, sample: &str) -> f64 {
        metrics(http, &self.admin)
            .await
            .lines()
            .find_map(|l| {
                l.strip_prefix(sample)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }
}

/// `n` fixture jobs as API bodies.
/// The text of `/metrics` on an admin listener (`admin`: its base URL).
pub async fn metrics(http: &reqwest::Client, admin: &str) -> String {
    let url = format!("{admin}/metrics");
    http.get(url).send().await.unwrap().text().await.unwrap()
}

pub fn fixture_bodies(seed: u64, n: usize) -> Vec<Value> {
    jobs_common::fixtures::jobs(seed, n)
        .into_iter()
        .map(|j| json!({"kind": j.kind.as_str(), "payload": j.payload, "maxAttempts": j.max_attempts}))
        .collect()
}
