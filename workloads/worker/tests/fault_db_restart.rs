//! The database goes away and comes back: readiness follows it, nothing crashes, work resumes.
//!
//! With the API in-process and a worker process busy on a batch, PostgreSQL is stopped (fast
//! shutdown, connections cut mid-job). Both `/readyz` turn 503 while `/livez` stays 200, the API
//! answers 503 instead of failing, and the worker process stays alive. After a restart on the same
//! port both become ready again, new jobs are accepted, and every job — including those whose
//! completion could not be recorded while the database was down (their lease expires) — ends
//! succeeded exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

mod support;

use std::time::Duration;

use jobs_common::testing::eventually;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_and_work_resumes() {
    let mut env = support::Env::start().await;
    let api = env.api().await;
    let bodies = (0..150)
        .map(|i| json!({"kind": "hash", "payload": format!("before {i}")}))
        .collect();
    env.enqueue(&api, bodies).await;
    let mut worker = env.worker(
        "w",
        &[
            ("APP_WORKER_HASH_ROUNDS", "30000"),
            ("APP_WORKER_LEASE", "2s"),
        ],
    );
    worker.ready(&env.http).await;
    eventually("some progress", Duration::from_secs(60), || async {
        (env.counts().await.get("succeeded").copied().unwrap_or(0) >= 10).then_some(())
    })
    .await
    .unwrap();

    env.pg.stop().unwrap();
    let (api_ready, worker_ready) = (
        format!("{}/readyz", api.admin),
        format!("{}/readyz", worker.admin),
    );
    for url in [&api_ready, &worker_ready] {
        eventually("readiness to fail", Duration::from_secs(20), || async {
            (env.status(url).await == Some(503)).then_some(())
        })
        .await
        .unwrap();
    }
    assert_eq!(
        env.status(&format!("{}/livez", worker.admin)).await,
        Some(200)
    );
    assert_eq!(env.status(&format!("{}/livez", api.admin)).await, Some(200));
    let resp = env
        .http
        .post(format!("{}/v1/jobs", api.base))
        .json(&json!({"kind": "hash", "payload": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        worker.proc.try_wait().unwrap().is_none(),
        "worker died:\n{}",
        worker.proc.log_tail(20)
    );

    env.pg.restart().await.unwrap();
    for url in [&api_ready, &worker_ready] {
        eventually("readiness to return", Duration::from_secs(30), || async {
            (env.status(url).await == Some(200)).then_some(())
        })
        .await
        .unwrap();
    }
    let bodies = (0..10)
        .map(|i| json!({"kind": "summarise", "payload": format!("after {i}")}))
        .collect();
    env.enqueue(&api, bodies).await;
    env.wait_all_done(160, Duration::from_secs(120)).await;
    let violations = env.exactly_once_violations().await;
    assert!(
        violations.is_empty(),
        "not completed exactly once: {violations:?}"
    );
    assert!(worker.proc.try_wait().unwrap().is_none(), "worker died");
    worker.terminate();
}
