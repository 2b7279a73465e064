//! SIGTERM to worker processes mid-batch, then a restart: no job is lost or completed twice.
//!
//! Worker 1 gets SIGTERM with a generous drain timeout: it stops claiming, finishes the jobs in
//! hand and exits 0, leaving no open claim. Worker 2 runs long jobs and gets SIGTERM with a
//! 50 ms drain timeout: the jobs in hand are cancelled and their claims released (attempt
//! outcome `released`), again with exit status 0. Worker 3 then finishes everything, and every
//! job has exactly one successful attempt.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

mod support;

use std::collections::HashMap;
use std::time::Duration;

use jobs_common::testing::eventually;
use serde_json::json;

const JOBS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_batch_then_restart_loses_nothing() {
    let env = support::Env::start().await;
    let api = env.api().await;
    let bodies = (0..JOBS)
        .map(|i| json!({"kind": "hash", "payload": format!("artifact {i}")}))
        .collect();
    env.enqueue(&api, bodies).await;

    // 1. Drain: finish what is in hand.
    let mut w1 = env.worker("w1", &[("APP_WORKER_HASH_ROUNDS", "20000")]);
    w1.ready(&env.http).await;
    eventually(
        "w1 to complete 10 jobs",
        Duration::from_secs(60),
        || async {
            (env.counts().await.get("succeeded").copied().unwrap_or(0) >= 10).then_some(())
        },
    )
    .await
    .unwrap();
    let a1 = terminate_leaving_no_claim(&env, &mut w1, "w1").await;
    assert!(a1.get("succeeded").copied().unwrap_or(0) >= 10, "{a1:?}");
    assert_eq!(
        a1.get("released"),
        None,
        "w1 should have finished its jobs, not released them: {a1:?}"
    );
    let counts = env.counts().await;
    assert_eq!(counts.get("running"), None, "{counts:?}");
    assert!(
        counts.get("queued").copied().unwrap_or(0) > 0,
        "batch finished before SIGTERM: {counts:?}"
    );

    // 2. Drain timeout: release what is in hand.
    let mut w2 = env.worker(
        "w2",
        &[
            ("APP_WORKER_HASH_ROUNDS", "20000000"),
            ("APP_DRAIN_TIMEOUT", "50ms"),
        ],
    );
    w2.ready(&env.http).await;
    let client = env.pg.admin("jobs").await.unwrap();
    eventually("w2 to hold two claims", Duration::from_secs(30), || async {
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM jobs WHERE status = 'running' AND locked_by = 'w2'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        (n == 2).then_some(())
    })
    .await
    .unwrap();
    let a2 = terminate_leaving_no_claim(&env, &mut w2, "w2").await;
    assert!(a2.get("released").copied().unwrap_or(0) >= 1, "{a2:?}");
    assert_eq!(env.counts().await.get("running"), None);

    // 3. Restart: everything completes, each job once.
    let mut w3 = env.worker("w3", &[]);
    w3.ready(&env.http).await;
    env.wait_all_done(JOBS as i64, Duration::from_secs(120))
        .await;
    let violations = env.exactly_once_violations().await;
    assert!(
        violations.is_empty(),
        "not completed exactly once: {violations:?}"
    );
    w3.terminate();
}

/// Stops `worker` (id `id`) with SIGTERM and returns its attempts by outcome, asserting that it
/// left no claim open, whether it finished its jobs or released them.
async fn terminate_leaving_no_claim(
    env: &support::Env,
    worker: &mut support::Worker,
    id: &str,
) -> HashMap<String, i64> {
    worker.terminate();
    let attempts = env.attempts_by(id).await;
    assert_eq!(
        attempts.get("open"),
        None,
        "{id} left a claim open: {attempts:?}"
    );
    attempts
}
