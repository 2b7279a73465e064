//! End to end: the API enqueues 1,000 jobs, two worker processes process them, and every job
//! completes exactly once — checked in the attempt log, in the job rows, and independently by
//! the workers' own success counters, which must add up to exactly 1,000.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

mod support;

use std::time::Duration;

const JOBS: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_jobs_two_workers_each_completes_once() {
    let env = support::Env::start().await;
    let api = env.api().await;
    let ids = env.enqueue(&api, support::fixture_bodies(11, JOBS)).await;
    assert_eq!(ids.len(), JOBS);

    let mut a = env.worker("worker-a", &[]);
    let mut b = env.worker("worker-b", &[]);
    a.ready(&env.http).await;
    b.ready(&env.http).await;
    env.wait_all_done(JOBS as i64, Duration::from_secs(180))
        .await;

    let violations = env.exactly_once_violations().await;
    assert!(
        violations.is_empty(),
        "{} jobs not completed exactly once: {:?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );

    let sample =
        |kind: &str| format!("jobs_processed_total{{kind=\"{kind}\",result=\"succeeded\"}}");
    let mut total = 0.0;
    for (name, w) in [("worker-a", &a), ("worker-b", &b)] {
        let n = w.metric(&env.http, &sample("hash")).await
            + w.metric(&env.http, &sample("summarise")).await;
        println!("{name}: {n} jobs");
        assert!(
            n > 0.0,
            "{name} processed nothing: the test did not exercise two workers"
        );
        total += n;
    }
    assert_eq!(
        total, JOBS as f64,
        "the workers report {total} completions for {JOBS} jobs"
    );

    for mut w in [a, b] {
        w.terminate();
    }
}
