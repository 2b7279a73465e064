//! Retries, backoff, final failure and lease takeover, with the worker in-process.
//!
//! `fail:` payloads fail every attempt and end `failed` after `max_attempts` with the last error
//! kept; `flaky:N:` payloads succeed on attempt N+1. A claim whose lease expires (a "ghost"
//! worker that claimed and vanished) is taken over, and the ghost can no longer complete or fail
//! the job: its writes are refused by the claim guard. A ghost's claim on the last allowed
//! attempt fails the job instead of running it again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

mod support;

use std::{collections::HashMap, sync::Arc, time::Duration};

use jobs_common::{
    JobKind, Metrics,
    config::ShutdownArgs,
    db,
    jobs::{
        queue::{self, Claim},
        store::{self, Created, NewJob},
    },
};
use jobs_worker::{Worker, cli::WorkerArgs};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn args() -> WorkerArgs {
    WorkerArgs {
        concurrency: 2,
        poll_interval: Duration::from_millis(20),
        lease: Duration::from_secs(5),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        hash_rounds: 100,
        worker_id: Some("in-process".into()),
    }
}

async fn insert(env: &support::Env, kind: JobKind, payload: &str, max_attempts: i32) -> Uuid {
    let conn = db::get(&env.pool).await.unwrap();
    let new = NewJob {
        kind,
        payload: payload.into(),
        max_attempts,
        idempotency: None,
        trace_context: HashMap::new(),
    };
    match store::create(&*conn, &new).await.unwrap() {
        Created::New(job) => job.id,
        other => panic!("{other:?}"),
    }
}

async fn outcomes(env: &support::Env, id: Uuid) -> Vec<(String, String)> {
    let client = env.pg.admin("jobs").await.unwrap();
    client
        .query("SELECT worker, coalesce(outcome, 'open') FROM job_attempts WHERE job_id = $1 ORDER BY id", &[&id])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// The outcome of each attempt, in order ([`outcomes`] without the workers).
async fn outcome_names(env: &support::Env, id: Uuid) -> Vec<String> {
    outcomes(env, id)
        .await
        .into_iter()
        .map(|(_, o)| o)
        .collect()
}

fn start_worker(
    env: &support::Env,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let worker = Arc::new(Worker {
        id: "in-process".into(),
        pool: env.pool.clone(),
        metrics: Arc::new(Metrics::new()),
        args: args(),
    });
    let stop = CancellationToken::new();
    let token = stop.clone();
    let task = tokio::spawn(async move {
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let timing = ShutdownArgs {
            shutdown_grace: Duration::ZERO,
            drain_timeout: Duration::from_secs(5),
        };
        jobs_worker::run(worker, admin, token, &timing).await
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_then_fails_or_succeeds() {
    let env = support::Env::start().await;
    let always = insert(&env, JobKind::Hash, "fail:disk on fire", 3).await;
    let flaky = insert(&env, JobKind::Summarise, "flaky:2:third time lucky", 3).await;
    let too_flaky = insert(&env, JobKind::Hash, "flaky:5:never", 2).await;
    let (stop, task) = start_worker(&env);
    env.wait_all_done(3, Duration::from_secs(60)).await;
    stop.cancel();
    task.await.unwrap().unwrap();

    let conn = db::get(&env.pool).await.unwrap();
    let job = store::get(&*conn, always).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("failed", 3));
    assert_eq!(
        job.last_error.as_deref(),
        Some("payload asks to fail: disk on fire")
    );
    assert!(job.result.is_none());
    assert_eq!(
        outcome_names(&env, always).await,
        ["retry", "retry", "failed"]
    );

    let job = store::get(&*conn, flaky).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("succeeded", 3));
    assert_eq!(job.result.unwrap()["words"], 5); // flaky, 2, third, time, lucky
    assert_eq!(
        outcome_names(&env, flaky).await,
        ["retry", "retry", "succeeded"]
    );

    let job = store::get(&*conn, too_flaky).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("failed", 2));
    assert!(job.last_error.unwrap().contains("attempt 2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_lease_is_taken_over_and_the_ghost_cannot_complete() {
    let env = support::Env::start().await;
    let id = insert(&env, JobKind::Hash, "taken over", 3).await;
    let last_try = insert(&env, JobKind::Hash, "last try", 1).await;
    let mut conn = db::get(&env.pool).await.unwrap();
    let claimed = queue::claim(&mut conn, "ghost", 10, Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let ghost = Claim {
        job_id: id,
        worker: "ghost".into(),
        attempt: 1,
    };
    // A second claimer sees nothing while the lease holds.
    assert!(
        queue::claim(&mut conn, "other", 10, Duration::from_secs(5))
            .await
            .unwrap()
            .is_empty()
    );

    let (stop, task) = start_worker(&env);
    env.wait_all_done(2, Duration::from_secs(60)).await;
    stop.cancel();
    task.await.unwrap().unwrap();

    let job = store::get(&*conn, id).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("succeeded", 2));
    let result = job.result.clone().unwrap();
    assert_eq!(
        outcomes(&env, id).await,
        [
            ("ghost".to_owned(), "expired".to_owned()),
            ("in-process".to_owned(), "succeeded".to_owned())
        ]
    );
    // The ghost comes back: every write is refused, nothing changes.
    assert!(
        !queue::complete(&mut conn, &ghost, &serde_json::json!({"late": true}))
            .await
            .unwrap()
    );
    assert_eq!(
        queue::fail(&mut conn, &ghost, "late", Duration::ZERO)
            .await
            .unwrap(),
        None
    );
    assert!(!queue::release(&mut conn, &ghost).await.unwrap());
    assert!(
        !queue::extend(&conn, &ghost, Duration::from_secs(5))
            .await
            .unwrap()
    );
    let after = store::get(&*conn, id).await.unwrap().unwrap();
    assert_eq!((after.status, after.result), (job.status, Some(result)));

    let failed = store::get(&*conn, last_try).await.unwrap().unwrap();
    assert_eq!((failed.status.as_str(), failed.attempts), ("failed", 1));
    assert!(failed.last_error.unwrap().contains("lease expired"));
    assert_eq!(
        outcomes(&env, last_try).await,
        [("ghost".to_owned(), "expired".to_owned())]
    );
}
