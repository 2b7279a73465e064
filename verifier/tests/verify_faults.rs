//! The path to the registry fails in every way it can; each failure is named and bounded, and a
//! burst of verifications for one new digest makes one set of registry calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use portcullis_verifier::{
    KeyRequirement, RegistryError, SignatureFormat, VerifyError, verify_digest,
};
use support::{requirement, signed_image, soon};
use tokio::time::Instant;

fn is_sig_manifest(method: &str, path: &str) -> bool {
    method == "GET" && path.contains("/manifests/sha256-") && path.ends_with(".sig")
}

#[tokio::test]
async fn registry_stopped_mid_test_is_unreachable_then_recovers() {
    let (mut env, key, image, _) = signed_image("app", "v1", b"stop").await;
    env.registry.stop().await.unwrap();
    env.proxy.set_down(true);
    let err = env
        .verifier()
        .verify(&image, &requirement(&[&key], 1), soon())
        .await;
    match err.as_ref() {
        Err(VerifyError::Registry {
            source: RegistryError::Unreachable { registry, .. },
            ..
        }) => {
            assert_eq!(registry, &env.proxy.addr());
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    env.proxy.set_down(false);
    env.registry.restart().await.unwrap();
    // Transient failures are not cached: the same verifier succeeds once the registry is back.
    assert!(
        env.verifier()
            .verify(&image, &requirement(&[&key], 1), soon())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn rate_limits_are_retried_honouring_retry_after_then_named() {
    let (env, key, image, signed) = signed_image("app", "v1", b"429").await;
    let pinned = image.with_digest(signed.digest.clone());
    // The classic tags only: one stream of requests for the faults to land on (with both
    // formats the referrers are asked beside the `.sig`, and any of them may get the fault).
    let req = Arc::new(KeyRequirement {
        format: SignatureFormat::Classic,
        ..(*requirement(&[&key], 1)).clone()
    });

    env.proxy.clear_requests();
    env.proxy.fail_next(1, 429, Some(1));
    assert!(
        verify_digest(&env.client, &pinned, &signed.digest, &req, soon())
            .await
            .is_ok()
    );
    assert_eq!(env.proxy.count(is_sig_manifest), 2, "one 429, one retry");

    // A Retry-After beyond the deadline is not slept through: the client gives up at once,
    // naming the host and the pause left, and so does the next request to that host, unsent.
    let paused = support::client_for(&env.proxy.addr());
    env.proxy.clear_requests();
    env.proxy.fail_next(1, 503, Some(3600));
    for _ in 0..2 {
        match verify_digest(&paused, &pinned, &signed.digest, &req, soon()).await {
            Err(VerifyError::Registry {
                source:
                    RegistryError::Paused {
                        registry,
                        status: 503,
                        left_ms,
                    },
                ..
            }) => {
                assert_eq!(registry, env.proxy.addr());
                assert!(left_ms > 3_500_000 && left_ms <= 3_600_000, "{left_ms}");
            }
            other => panic!("expected Paused, got {other:?}"),
        }
    }
    assert_eq!(
        env.proxy.count(is_sig_manifest),
        1,
        "the second one was never sent"
    );
    let msg = err_text(verify_digest(&paused, &pinned, &signed.digest, &req, soon()).await);
    assert!(
        msg.contains(&format!(
            "registry {} answered 503 (rate limited)",
            env.proxy.addr()
        )) && msg.contains("ms more, past the deadline"),
        "{msg}"
    );

    env.proxy.fail_next(10, 429, Some(0));
    let err = verify_digest(&env.client, &pinned, &signed.digest, &req, soon()).await;
    match err {
        Err(VerifyError::Registry {
            source:
                RegistryError::Throttled {
                    status: 429,
                    tries: 3,
                    ..
                },
            ..
        }) => {}
        other => panic!("expected Throttled after 3 tries, got {other:?}"),
    }
    let msg = err_text(verify_digest(&env.client, &pinned, &signed.digest, &req, soon()).await);
    assert!(
        msg.contains(&format!(
            "registry {} answered 429 after 3 tries",
            env.proxy.addr()
        )),
        "{msg}"
    );
}

fn err_text<T: std::fmt::Debug>(r: Result<T, VerifyError>) -> String {
    r.map(|v| format!("unexpected success {v:?}"))
        .unwrap_or_else(|e| e.to_string())
}

#[tokio::test]
async fn a_slow_registry_hits_the_callers_deadline() {
    let (env, key, image, _) = signed_image("app", "slow", b"slow").await;
    env.proxy.set_delay(Duration::from_secs(3));
    let deadline = Instant::now() + Duration::from_millis(300);
    let verdict = env
        .verifier()
        .verify(&image, &requirement(&[&key], 1), deadline)
        .await;
    match verdict.as_ref() {
        Err(VerifyError::Deadline { registry, .. }) => assert_eq!(registry, &env.proxy.addr()),
        other => panic!("expected Deadline, got {other:?}"),
    }
}

#[tokio::test]
async fn a_burst_for_one_new_digest_makes_one_signature_fetch() {
    let (env, key, image, signed) = signed_image("app", "burst", b"burst").await;
    let pinned = image.with_digest(signed.digest.clone());
    let verifier = env.verifier();
    let req = requirement(&[&key], 1);
    env.proxy.clear_requests();
    env.proxy.set_delay(Duration::from_millis(200));
    let calls = (0..100).map(|_| {
        let (v, img, req) = (verifier.clone(), pinned.clone(), req.clone());
        tokio::spawn(async move { v.verify(&img, &req, soon()).await })
    });
    for verdict in futures::future::join_all(calls).await {
        assert!(verdict.unwrap().is_ok());
    }
    assert_eq!(
        env.proxy.count(is_sig_manifest),
        1,
        "{:?}",
        env.proxy.requests()
    );
    assert_eq!(
        env.proxy
            .count(|m, p| m == "GET" && p.contains("/referrers/")),
        1,
        "{:?}",
        env.proxy.requests()
    );
    assert_eq!(
        env.proxy.requests().len(),
        4,
        "one .sig manifest with the referrers API and fallback tag beside it, one signature \
         blob: {:?}",
        env.proxy.requests()
    );
    let stats = verifier.stats();
    assert_eq!(
        stats.hits.load(std::sync::atomic::Ordering::Relaxed)
            + stats.misses.load(std::sync::atomic::Ordering::Relaxed),
        100
    );
}
