//! The API keeps answering while the database password rotates under it.
//!
//! Connections are retired after 250 ms, so new ones authenticate all through the run. The
//! password is rotated five times the way `pipelines/rotate-db-password.sh` does it (ALTER ROLE
//! with a locally computed SCRAM verifier, then an atomic file replace), with 100 ms between the
//! two steps standing in for the secret store's propagation: connections opened in that window
//! fail with the old password and must re-read the file and retry. A bounded load loop
//! (4 clients, at most 8 s and 4,000 requests) must see zero failed requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;

const ROTATIONS: usize = 5;
const CLIENTS: usize = 4;
/// Bounds of the load loop: generous, because the clients must outlive the last rotation on a
/// loaded machine (they stop as soon as the test has what it needs).
const MAX_REQUESTS: u64 = 20_000;
const MAX_TIME: Duration = Duration::from_secs(60);
/// Requests that must succeed after the last rotation.
const AFTER_LAST: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_failed_requests_across_rotations() {
    let api = support::TestApi::start_with(|db| {
        db.database_max_lifetime = Duration::from_millis(250);
        db.database_pool_size = 4;
    })
    .await;
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, base) = (api.http.clone(), api.base.clone());
        let (ok, failed, done) = (ok.clone(), failed.clone(), done.clone());
        clients.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            let mut i = 0u64;
            while !done.load(Ordering::Relaxed)
                && started.elapsed() < MAX_TIME
                && ok.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < MAX_REQUESTS
            {
                i += 1;
                let resp = if i % 2 == 1 {
                    http.post(format!("{base}/v1/jobs"))
                        .json(
                            &json!({"kind": "hash", "payload": format!("client {c} request {i}")}),
                        )
                        .send()
                        .await
                } else {
                    http.get(format!("{base}/v1/jobs?limit=5")).send().await
                };
                match resp {
                    Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                    Ok(r) => {
                        errors.push(format!(
                            "{} {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        ));
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(e) => {
                        errors.push(e.to_string());
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            errors
        }));
    }
    let mut rotated = 0;
    let mut ok_after_last_rotation = 0;
    for _ in 0..ROTATIONS {
        tokio::time::sleep(Duration::from_millis(700)).await;
        api.pg
            .rotate_password(Duration::from_millis(100))
            .await
            .expect("rotation");
        rotated += 1;
        ok_after_last_rotation = ok.load(Ordering::Relaxed);
    }
    while ok.load(Ordering::Relaxed) < ok_after_last_rotation + AFTER_LAST
        && started.elapsed() < MAX_TIME
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done.store(true, Ordering::Relaxed);
    let mut errors = Vec::new();
    for c in clients {
        errors.extend(c.await.unwrap());
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("{rotated} rotations: {ok} requests ok, {failed} failed");
    assert_eq!(rotated, ROTATIONS);
    assert_eq!(failed, 0, "failed requests during rotation: {errors:?}");
    assert!(ok > 200, "only {ok} requests: the load loop proves nothing");
    assert!(
        ok >= ok_after_last_rotation + AFTER_LAST,
        "only {} requests succeeded after the last rotation",
        ok - ok_after_last_rotation
    );

    // The old password really is gone: only what the file says works now.
    let file = std::fs::read_to_string(api.pg.password_file()).unwrap();
    let mut config: tokio_postgres::Config = api.pg.database_url().parse().unwrap();
    assert!(
        config
            .password("not-the-password")
            .connect(tokio_postgres::NoTls)
            .await
            .is_err()
    );
    assert!(
        config
            .password(file.trim())
            .connect(tokio_postgres::NoTls)
            .await
            .is_ok()
    );
}
