//! The `jobs-api` process under SIGTERM: readiness fails first while requests are still served
//! (the grace period in which endpoints drop the pod), then the listener closes and the process
//! exits 0 within its drain bound. A second signal aborts at once with status 130.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

use std::{process::Command, time::Duration};

use jobs_common::testing::{eventually, free_port, postgres::PgServer, process::Proc};
use rustix::process::Signal;
use serde_json::json;

fn spawn_api(
    pg: &PgServer,
    dir: &std::path::Path,
    name: &str,
    grace: &str,
) -> (Proc, String, String) {
    let (port, admin_port) = (free_port().unwrap(), free_port().unwrap());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jobs-api"));
    cmd.env_clear()
        .env("APP_DATABASE_URL", pg.database_url())
        .env("APP_DATABASE_PASSWORD_FILE", pg.password_file())
        .env("APP_LISTEN", format!("127.0.0.1:{port}"))
        .env("APP_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
        .env("APP_SHUTDOWN_GRACE", grace)
        .env("APP_DRAIN_TIMEOUT", "5s");
    let proc = Proc::spawn(name, cmd, &dir.join(format!("{name}.log"))).unwrap();
    (
        proc,
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{admin_port}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_fails_readiness_then_drains_and_exits_zero() {
    let pg = PgServer::start().await.unwrap();
    pg.migrated_pool().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let status = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.ok().map(|r| r.status().as_u16()) }
    };

    let (mut api, base, admin) = spawn_api(&pg, dir.path(), "api", "3s");
    eventually("ready", Duration::from_secs(30), || async {
        (status(format!("{admin}/readyz")).await == Some(200)).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", api.log_tail(20)));

    api.signal(Signal::TERM).unwrap();
    eventually("readiness to fail", Duration::from_secs(2), || async {
        (status(format!("{admin}/readyz")).await == Some(503)).then_some(())
    })
    .await
    .unwrap();
    // Still inside the grace period: not ready, but serving.
    let resp = http
        .post(format!("{base}/v1/jobs"))
        .json(&json!({"kind": "hash", "payload": "late"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(status(format!("{admin}/livez")).await, Some(200));
    let exit = api
        .wait_timeout(Duration::from_secs(20))
        .unwrap()
        .expect("jobs-api did not exit after SIGTERM");
    assert!(exit.success(), "exit {exit}:\n{}", api.log_tail(20));
    assert_eq!(
        status(format!("{base}/v1/jobs")).await,
        None,
        "still accepting after exit"
    );

    // A second signal during the grace period aborts.
    let (mut api, _, admin) = spawn_api(&pg, dir.path(), "api2", "30s");
    eventually("ready", Duration::from_secs(30), || async {
        (status(format!("{admin}/readyz")).await == Some(200)).then_some(())
    })
    .await
    .unwrap();
    api.signal(Signal::TERM).unwrap();
    eventually("readiness to fail", Duration::from_secs(2), || async {
        (status(format!("{admin}/readyz")).await == Some(503)).then_some(())
    })
    .await
    .unwrap();
    api.signal(Signal::TERM).unwrap();
    let exit = api
        .wait_timeout(Duration::from_secs(5))
        .unwrap()
        .expect("second SIGTERM did not abort");
    assert_eq!(exit.code(), Some(130));
}
